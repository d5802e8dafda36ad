/**
 * Attribute extraction (BRAND, MPN, GTIN, a group attribute) with an extract-* model.
 * transformers.js gives no character offsets, so token spans are recovered by
 * aligning each row's tokens to its text (align.ts); BIO decoding is in bio.ts.
 */
import { alignTokens } from './align.js';
import { decodeBio, type Entity } from './bio.js';
import { floatData, loadModel, rowLengths, type LoadedModel, type ModelLoadOptions, type TokenRows } from './loader.js';

export type { Entity } from './bio.js';

export interface Extractor {
  /**
   * Entities per text, `text === input.slice(start, end)`. GTIN spans are barcode-shaped
   * numbers whatever their check digit: the pipeline's validate stage checks them and keeps
   * the reason, so a misprinted barcode is reported rather than silently dropped.
   */
  extract(texts: string[], tokens?: TokenRows): Promise<Entity[][]>;
  /** Models with the same id share token rows (token-rows.ts): `tokens` is read and filled in. */
  readonly tokenizerId: string;
  close(): Promise<void>;
  readonly labels: readonly string[];
}

function extractor(m: LoadedModel): Extractor {
  const idToToken: string[] = [];
  for (const [token, id] of m.tokenizer.get_vocab()) idToToken[id] = token;
  const specials = m.tokenizer.all_special_tokens;
  const unk = m.tokenizer.unk_token;
  return {
    labels: m.labels,
    tokenizerId: m.tokenizerId,
    async extract(texts, tokens) {
      if (texts.length === 0) return [];
      const batch = m.tokenize(texts, tokens);
      const logits = await m.run(batch, 'logits');
      const data = floatData(logits);
      const [, S = 0, L = 0] = logits.dims;
      const ids = batch.input_ids.data as BigInt64Array;
      const lengths = rowLengths(batch.attention_mask);
      return texts.map((text, b) => {
        const T = lengths[b] ?? 0;
        const tokens = Array.from(ids.subarray(b * S, b * S + T), (id) => idToToken[Number(id)] ?? unk);
        const probs = new Float32Array(T * L);
        for (let t = 0; t < T; t++) {
          const off = (b * S + t) * L;
          let max = -Infinity;
          for (let l = 0; l < L; l++) max = Math.max(max, data[off + l]!);
          let sum = 0;
          for (let l = 0; l < L; l++) {
            const e = Math.exp(data[off + l]! - max);
            probs[t * L + l] = e;
            sum += e;
          }
          for (let l = 0; l < L; l++) probs[t * L + l] = probs[t * L + l]! / sum;
        }
        return decodeBio(text, probs, m.labels, alignTokens(text, tokens, specials, unk));
      });
    },
    close: () => m.close(),
  };
}

/** @param name e.g. "extract-electronics", "extract-computing", "extract-accessories" */
export async function loadExtractor(name: string, options: ModelLoadOptions = {}): Promise<Extractor> {
  return extractor(await loadModel(name, 'token-classification', options));
}
