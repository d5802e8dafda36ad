import type { Redis } from 'ioredis';
import { loadEmbedder, type Embedder } from '../lib/models/embedder.js';
import { ok, type Stage, type StageContext } from '../lib/stage.js';
import { modelOptions, modelText } from './domain/model-options.js';
import { summarize } from './domain/summary.js';
import { bufferToVector, VectorBlock, vectorToBuffer } from './domain/vector-index.js';

/** In-memory copy of one category's vectors, and how far into its key log it has read. */
interface Block {
  index?: VectorBlock;
  loaded: number;
}

/**
 * Marks likely duplicates: embeds the batch (one model call), finds the most similar product
 * already seen in the same category, and reports it as `duplicateOf` when the cosine similarity
 * reaches `settings.threshold` (default 0.92). Vectors live in Redis next to the products
 * (`{p}:vectors:<category>` hash, key → float32 bytes, and `{p}:vectors:<category>:log`, keys in
 * arrival order); each worker keeps an in-memory copy per category and reads only what is new.
 */
export function createMatch(ctx: StageContext): Stage {
  const opts = modelOptions(ctx);
  const threshold = typeof ctx.stage.settings.threshold === 'number' ? ctx.stage.settings.threshold : 0.92;
  const redis: Redis = ctx.redis;
  const blocks = new Map<string, Block>();
  let model: Embedder | undefined;
  const vecKey = (cat: string) => ctx.keys.extra(`vectors:${cat}`);
  const logKey = (cat: string) => ctx.keys.extra(`vectors:${cat}:log`);

  /** Pull vectors other workers added since the last sync (one round trip per category). */
  async function sync(category: string): Promise<VectorBlock | undefined> {
    let b = blocks.get(category);
    if (!b) blocks.set(category, (b = { loaded: 0 }));
    const keys = await redis.lrange(logKey(category), b.loaded, -1);
    if (keys.length > 0) {
      const vecs = await redis.hmgetBuffer(vecKey(category), ...keys);
      keys.forEach((k, i) => {
        const v = vecs[i];
        if (!v) return;
        const vec = bufferToVector(v);
        b!.index ??= new VectorBlock(vec.length);
        b!.index.add(k, vec);
      });
      b.loaded += keys.length;
    }
    return b.index;
  }

  return {
    kind: 'match',
    model: opts.name,
    async init() {
      model = await loadEmbedder(opts.name, { threads: opts.threads, allowRemoteModels: opts.allowRemote, localModelPath: opts.modelsDir });
    },
    async process(batch) {
      const categories = batch.map((m) => String(summarize(m.envelope).category ?? 'uncategorized'));
      const [vectors] = await Promise.all([
        model!.embed(batch.map((m) => modelText(m.envelope.outputs, m.envelope.input.title))),
        Promise.all([...new Set(categories)].map(sync)),
      ]);
      const writes: Promise<unknown>[] = [];
      const results = batch.map((m, i) => {
        const key = m.envelope.key;
        const cat = categories[i]!;
        const vec = vectors[i]!;
        const b = blocks.get(cat)!;
        const t0 = performance.now();
        const hit = b.index?.nearest(vec, key);
        const lookupMs = performance.now() - t0;
        // Later messages of the same batch see this one, so duplicates inside a batch are caught too.
        b.index ??= new VectorBlock(vec.length);
        b.index.add(key, vec);
        writes.push(redis.hset(vecKey(cat), key, vectorToBuffer(vec)), redis.rpush(logKey(cat), key));
        const out: Record<string, unknown> = { matchScore: hit ? Math.round(hit.score * 1e4) / 1e4 : 0, candidates: b.index.size - 1, lookupMs: Math.round(lookupMs * 1000) / 1000, model: opts.name };
        if (hit && hit.score >= threshold) out.duplicateOf = hit.key;
        return ok(out);
      });
      await Promise.all(writes);
      return results;
    },
    close: async () => model?.close(),
  };
}
