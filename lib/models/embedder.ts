/** Title embeddings with the product-embed model: mean-pooled over the mask, L2-normalised. */
import { floatData, loadModel, type LoadedModel, type ModelLoadOptions, type TokenRows } from './loader.js';

export interface Embedder {
  /** Unit-length vectors, one per text; cosine similarity is their dot product. */
  embed(texts: string[], tokens?: TokenRows): Promise<Float32Array[]>;
  /** Models with the same id share token rows (token-rows.ts): `tokens` is read and filled in. */
  readonly tokenizerId: string;
  close(): Promise<void>;
  readonly dimension: number;
}

function embedder(m: LoadedModel): Embedder {
  const config = m.model.config as { hidden_size?: number };
  return {
    dimension: config.hidden_size ?? 0,
    tokenizerId: m.tokenizerId,
    async embed(texts, tokens) {
      if (texts.length === 0) return [];
      const batch = m.tokenize(texts, tokens);
      const hidden = await m.run(batch, 'last_hidden_state');
      const data = floatData(hidden);
      const [, S = 0, M = 0] = hidden.dims;
      const mask = batch.attention_mask.data as BigInt64Array;
      return texts.map((_, b) => {
        const v = new Float32Array(M);
        let n = 0;
        for (let s = 0; s < S; s++) {
          if (mask[b * S + s] === 0n) continue;
          n++;
          const off = (b * S + s) * M;
          for (let j = 0; j < M; j++) v[j] = v[j]! + data[off + j]!;
        }
        let norm = 0;
        for (let j = 0; j < M; j++) {
          v[j] = v[j]! / Math.max(n, 1);
          norm += v[j]! * v[j]!;
        }
        norm = Math.sqrt(norm) || 1;
        for (let j = 0; j < M; j++) v[j] = v[j]! / norm;
        return v;
      });
    },
    close: () => m.close(),
  };
}

export async function loadEmbedder(name = 'product-embed', options: ModelLoadOptions = {}): Promise<Embedder> {
  return embedder(await loadModel(name, 'feature-extraction', options));
}
