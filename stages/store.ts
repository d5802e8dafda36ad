import { ConfigError, errorMessage, TransientError } from '../lib/core/errors.js';
import { isolateEach, isTransientRedisError } from '../lib/core/failure-policy.js';
import { stageKeySpace } from '../lib/redis/shard.js';
import { callFactory, importFactory } from '../lib/worker/modules.js';
import { fail, ok, type Stage, type StageContext } from '../lib/worker/stage.js';
import { recordCompletions, type CompletionSettings } from '../lib/stream/done.js';
import { summarize } from './domain/summary.js';
import { createPostgresSink, postgresOptionsFrom } from './sinks/postgres.js';
import { createRedisSink } from './sinks/redis.js';
import { markerDropper } from './sinks/marker-drop.js';
import { appliedEntriesKept, checkSink, sinkName, type BuiltinSink, type Sink, type StoredProduct } from './sinks/sink.js';

export type SinkFactory = (ctx: StageContext) => Sink;

/** Sinks by `settings.sink` name: redis (the embedded default), postgres (needs `pipeline store migrate`). */
export const SINKS: Record<string, SinkFactory> = {
  redis: (ctx) => createRedisSink(ctx.redis, stageKeySpace(ctx), keptOf(ctx)),
  postgres: (ctx) => createPostgresSink(postgresOptionsFrom(ctx.stage.settings, process.env, `stages.${ctx.stage.name}.settings`), ctx.logger, keptOf(ctx)),
} satisfies Record<BuiltinSink, SinkFactory>;

/** The entries per product the built-in sinks keep to know a re-delivery (`settings.appliedEntriesKept`, default 16). */
const keptOf = (ctx: StageContext) => appliedEntriesKept(ctx.stage.settings, `stages.${ctx.stage.name}.settings`);

/**
 * The last stage: upserts each product by key into the configured sink (default: redis), and is
 * acked only after the sink has it. A sink error fails the batch, which is retried; nothing is acked.
 */
export function createStore(ctx: StageContext): Stage {
  const where = `stages.${ctx.stage.name}.settings.sink`;
  const name = sinkName(ctx.stage.settings, `stages.${ctx.stage.name}.settings`);
  const factory = SINKS[name];
  // A `module:` sink (the user's own module) is imported in init(), before the first read.
  let sink: Sink = factory
    ? factory(ctx)
    : { name, write: async () => Promise.reject(new ConfigError(where, 'sink not loaded: init() was not called')), close: async () => {} };
  /** Older deliveries than the stored version were dropped by the sink (newest wins): counted and logged. */
  const countStale = (n: number) => {
    if (n === 0) return;
    ctx.metrics.increment('store.stale_dropped', n, { stage: ctx.stage.name });
    ctx.logger.info('store.stale_dropped', { count: n, sink: sink.name });
  };
  /** Deliveries no longer pending in their group were not written (a failover lost their entry or read): counted and logged. */
  const countNotPending = (ids: readonly string[] | undefined) => {
    if (!ids?.length) return;
    ctx.metrics.increment('store.not_pending_skipped', ids.length, { stage: ctx.stage.name });
    ctx.logger.info('store.not_pending_skipped', { count: ids.length, ids: ids.slice(0, 20), sink: sink.name });
  };
  /** The group reading each stream: a message's entry is pending there until its hand-off (its own stream, or a fused upstream's). */
  const groupOf = new Map(ctx.config.stages.map((s) => [s.input, s.name]));
  const markers = markerDropper(ctx);
  const done: CompletionSettings = { maxLen: ctx.config.limits.doneMaxLen, statusTtlMs: ctx.config.limits.statusTtlMs };
  // Once the sink has them, and before the batch is acked: `{p}:done` and each id's status (lib/stream/done.ts),
  // of the record's shard (`{p:N}:done`): a worker's stage instance serves every shard it reads.
  // A Redis outage or OOM there is transient: the batch waits and is written again, no delivery counted.
  // A sink other than Redis: the reprocess markers of what it stored go after its commit (the Redis sink drops them in its upsert).
  const completed = async (stored: readonly StoredProduct[]) => {
    if (sink.name !== 'redis') await markers.drop(stored);
    await recordCompletions(
      ctx.redis,
      stageKeySpace(ctx),
      stored.map((p) => ({ key: p.key, status: 'stored' as const, stage: ctx.stage.name })),
      done,
    ).catch((err: unknown) => {
      throw isTransientRedisError(err) ? new TransientError(`completion not recorded: ${errorMessage(err)}`, { cause: err, dependency: 'Redis' }) : err;
    });
  };
  return {
    kind: 'store',
    sink: true,
    // Two shards' batches at once (a worker reading several shards) when the sink says it may (Sink.concurrentShards; a
    // `module:` sink says so in what its factory returns, loaded in init): their products have different keys (a key is
    // on one shard), and the completions write each to its own shard's keys, so a batch waiting on a master that does not
    // answer holds its shard only.
    get concurrentShards() {
      return sink.concurrentShards === true;
    },
    async process(batch) {
      const now = Date.now();
      const products: StoredProduct[] = batch.map((m) => {
        const env = m.envelope;
        const s = summarize(env);
        const { category, ...fields } = s;
        const group = groupOf.get(m.stream);
        return {
          key: env.key,
          entryId: m.id,
          stream: m.stream,
          ...(group !== undefined ? { pending: { stream: m.stream, group } } : {}),
          ...(env.origin !== undefined ? { version: env.origin } : {}),
          ...(env.rebuilt !== undefined ? { rebuilt: true } : {}),
          traceId: env.traceId,
          category: typeof category === 'string' && category ? category : 'uncategorized',
          fields,
          doc: {
            key: env.key,
            input: env.input,
            outputs: env.outputs,
            route: [...env.hops.map((h) => h.stage), ctx.stage.name],
            models: modelsOf(env.outputs),
            producedAt: env.producedAt,
            hops: env.hops,
          },
          storedAt: now,
        };
      });
      try {
        const r = await sink.write(products);
        countStale(r ? r.stale : 0);
        countNotPending(r?.notPending);
        // A product not written (its delivery no longer pending) is not complete: its record comes again.
        const skipped = new Set(r?.notPending);
        await completed(skipped.size ? products.filter((p) => !skipped.has(p.entryId)) : products);
        return products.map(() => ok({ stored: true, sink: sink.name }));
      } catch (err) {
        const error = err instanceof Error ? err : new Error(String(err));
        if (!isolateEach(error, products.length)) return products.map(() => fail(error));
        // The sink rejected the batch's data: write one by one so one bad product fails alone.
        ctx.logger.warn('store.batch_rejected', { err: error, batch: products.length, ids: batch.map((m) => m.id), note: 'retrying one by one' });
        const results: ReturnType<typeof ok>[] = [];
        for (const p of products)
          results.push(
            await sink
              .write([p])
              .then((r) => (countStale(r ? r.stale : 0), countNotPending(r?.notPending), r?.notPending?.length ? undefined : completed([p])))
              .then(
                () => ok({ stored: true, sink: sink.name }),
                (e: unknown) => fail(e instanceof Error ? e : new Error(String(e))),
              ),
          );
        return results;
      }
    },
    init: async () => {
      if (!factory) sink = checkSink(callFactory(await importFactory(name, ctx.config.source, where, 'createSink'), ctx, name, where, 'createSink'), where);
      await sink.init?.();
    },
    close: () => sink.close(),
  };
}

/** Model name/version per stage, from outputs that name theirs (`model`, `modelVersion`). */
function modelsOf(outputs: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [stage, o] of Object.entries(outputs)) {
    const r = o as Record<string, unknown> | null;
    const m = r && typeof r === 'object' ? (r.modelVersion ?? r.model) : undefined;
    if (typeof m === 'string') out[stage] = m;
  }
  return out;
}
