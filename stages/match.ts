import { within } from '../lib/core/io-deadline.js';
import type { Embedder } from '../lib/models/embedder.js';
import { stageKeySpace } from '../lib/redis/shard.js';
import { encodeEnvelope } from '../lib/stream/codec.js';
import { ok, type Stage, type StageContext } from '../lib/worker/stage.js';
import { carriedRows } from './domain/carried-tokens.js';
import { modelOptions, modelText, stageModelVersion } from './domain/model-options.js';
import { summarize } from './domain/summary.js';
import { matchSettings } from './domain/match-settings.js';
import { MatchRechecks } from './domain/match-recheck.js';
import { VectorStore } from './domain/vector-store.js';
import { matchCorrection } from './match-correction.js';

/**
 * Marks likely duplicates: embeds the batch (one model call), finds the most similar product
 * already seen in the same category (blocking by category), and reports it as `duplicateOf`
 * when the cosine similarity reaches `settings.threshold` (default 0.92). Vectors live in Redis
 * next to the products (VectorStore); each worker keeps a local copy per category (its rows in a
 * spill file in `settings.index.dir`), searched exactly up to `settings.index.exactBelow` vectors
 * and through an IVF index above (vector-index.ts). With shards, a shard whose master does not
 * answer within `settings.shardWaitMs` (default 1000) is matched against its last synced copy
 * while the other shards' records go on (shard-waits.ts); a record matched then without a
 * duplicate is re-checked once the shard caught up, and handed on again as a duplicate if its twin
 * was there (match-recheck.ts, `settings.recheck`).
 */
export function createMatch(ctx: StageContext): Stage {
  const opts = modelOptions(ctx);
  const version = stageModelVersion(ctx.stage)!;
  const { threshold, index, shardWaitMs, recheck: recheckOptions } = matchSettings(`stages.${ctx.stage.name}.settings`, ctx.stage.settings);
  const log = (level: 'info' | 'warn', event: string, fields: Record<string, unknown>) => ctx.logger[level](event, fields);
  const vectors = new VectorStore(ctx.redis, stageKeySpace(ctx), index, (event, fields) => ctx.logger.warn(event, fields), {
    shardWaitMs,
    log,
    onCaughtUp: () => rechecks.kick(),
  });
  const rechecks = new MatchRechecks(ctx.redis, stageKeySpace(ctx), vectors, threshold, recheckOptions, {
    correct: matchCorrection(ctx),
    log,
    count: (metric, n) => ctx.metrics.increment(metric, n, { stage: ctx.stage.name }),
  });
  // The first batch also re-checks what an earlier run (or another worker) left in the lists.
  let started = false;
  let model: Embedder | undefined;
  return {
    kind: 'match',
    model: opts.name,
    modelVersion: version,
    async init() {
      // Imported here, not at the top: only model stages load transformers.js and ONNX Runtime.
      const { loadEmbedder } = await import('../lib/models/embedder.js');
      model = await loadEmbedder(opts.name, opts.load);
    },
    async process(batch) {
      const categories = batch.map((m) => String(summarize(m.envelope).category ?? 'uncategorized'));
      const texts = batch.map((m) => modelText(m.envelope.outputs, m.envelope.input.title));
      const [embeddings] = await Promise.all([
        model!.embed(texts, carriedRows(batch, texts, model!.tokenizerId)),
        Promise.all([...new Set(categories)].map((c) => vectors.sync(c))),
      ]);
      const writes: Promise<unknown>[] = [];
      // Which shards are behind, and where this copy stands on them, as the lookups see it.
      const behind = new Map([...new Set(categories)].map((c) => [c, rechecks.behind(c)]));
      // One record after the other: a later record of the batch is compared with the earlier ones.
      // Lookups the int8 codes leave open are settled together, once the batch's adds are sent.
      const found = batch.map((m, i) => {
        const key = m.envelope.key;
        const cat = categories[i]!;
        const t0 = performance.now();
        const lookup = vectors.lookup(cat, embeddings[i]!, key, threshold);
        const lookupMs = performance.now() - t0;
        writes.push(vectors.add(cat, key, embeddings[i]!));
        return { lookup, lookupMs, candidates: vectors.size(cat) - 1 };
      });
      await vectors.settle(found.map((f) => f.lookup));
      // A shard that did not answer the settle's exact reads is behind too (its copy as it was).
      for (const [c, w] of behind) for (const [s, from] of rechecks.behind(c)) if (!w.some(([t]) => t === s)) w.push([s, from]);
      const results = found.map(({ lookup: { hit }, lookupMs, candidates }) => {
        const out: Record<string, unknown> = {
          matchScore: hit ? Math.round(hit.score * 1e4) / 1e4 : 0,
          candidates,
          lookupMs: Math.round(lookupMs * 1000) / 1000,
          model: opts.name,
          modelVersion: version,
        };
        if (hit && hit.score >= threshold) out.duplicateOf = hit.key;
        return ok(out);
      });
      // Matched against a shard's stale copy without a duplicate: kept for a re-check (before the batch is acked).
      const noted = results.map((r, i) => {
        const env = batch[i]!.envelope;
        const w = behind.get(categories[i]!)!;
        if (w.length === 0 || !r.ok || r.output.duplicateOf !== undefined) return undefined;
        const { tokens: _tokens, ...rest } = env;
        const matched = { ...rest, outputs: { ...env.outputs, [ctx.stage.name]: r.output } };
        return rechecks.note(env.key, categories[i]!, encodeEnvelope(matched), embeddings[i]!, w);
      });
      await Promise.all([...writes, ...noted]);
      if (!started) {
        started = true;
        rechecks.kick();
      }
      return results;
    },
    close: async () => {
      // A pass still running stops at its next entry; one held by a master that does not answer is not waited for longer.
      rechecks.close();
      await within(shardWaitMs, rechecks.idle());
      vectors.close();
      await model?.close();
    },
  };
}
