/**
 * `pipeline reprocess`: stored products back through the pipeline from a chosen stage, after a
 * model upgrade. Each product re-enters one stage's input stream with its envelope rebuilt from
 * the stored doc (lib/ops/reprocess-plan.ts: the outputs of the stages before it and a reviewer's decision kept, an origin
 * just after the stored version's, so the store's newest-wins keeps it over the version it
 * replaces but not over a record produced since), through lib/lua/reprocess-2.lua, which puts it
 * back at most once per stored version: a marker `{p}:reprocess:<key>` (TTL) names the store
 * entry of the version put back, so a second run (or the same key seen twice by SSCAN) skips it
 * until its new version is stored. Bounded like the producer and DLQ replay: before each batch
 * it waits while the target stage's lag is above its maxLag or Redis is full
 * (lib/producer/backpressure.ts); a put-back refused anyway (Redis filled up within the batch,
 * OOM; a failover, a dropped connection) is retried with backoff for `retryForMs`: the script
 * writes nothing when its XADD is refused. So are the backpressure readings and the dry run's
 * marker reads; the CLI's scan of the stored products rides out a failover the same way
 * (stages/sinks/export-redis.ts `redisProducts`, `retry`).
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { backoffMs, sleep } from '../core/backoff.js';
import type { ResolvedConfig, ResolvedStage } from '../config/types.js';
import { Backpressure, type Pressure } from '../producer/backpressure.js';
import { retryOrThrow, withRetry } from '../producer/retry.js';
import type { Keys } from '../redis/keys.js';
import { Script } from '../redis/script.js';
import { configShards } from '../redis/shard.js';
import { encodeEnvelope } from '../stream/codec.js';
import { checkFromStage, planReprocess, rebuildEnvelope, unreadableWhy, type PlanOptions, type SkipReason, type StoredProductRef } from './reprocess-plan.js';

export * from './reprocess-plan.js';

const putBack = new Script('reprocess-2');

/** How long a product put back counts as in flight unless its new version is stored first. @defaultValue one day */
export const DEFAULT_MARKER_TTL_MS = 24 * 3_600_000;

/** How long a put-back refused by Redis (full, failing over, unreachable) is retried before the run fails. @defaultValue 10 minutes */
export const DEFAULT_REPROCESS_RETRY_FOR_MS = 600_000;

export interface ReprocessOptions extends PlanOptions {
  /** Count what would be put back, write nothing (reads only: the observer user may run it). @defaultValue false */
  dryRun?: boolean;
  /** Products put back per backpressure reading (and per pipelined round trip). @defaultValue 100 */
  batch?: number;
  /** @defaultValue DEFAULT_MARKER_TTL_MS */
  markerTtlMs?: number;
  backpressure?: { pollMs?: number; maxWaitMs?: number; onWait?: (p: Pressure, stage: string, waitedMs: number) => void; onClear?: (waitedMs: number) => void };
  /** A put-back (or a backpressure reading) refused by Redis (OOM, failover, connection) is retried for this long from its first refusal, then the run fails. @defaultValue DEFAULT_REPROCESS_RETRY_FOR_MS */
  retryForMs?: number;
  /** First retry after up to this long, doubling (with jitter). @defaultValue 100 */
  retryBaseMs?: number;
  /** Longest wait between retries. @defaultValue 5000 */
  retryMaxMs?: number;
  /** Called before each retry, with the error and how long this put-back has been refused. */
  onRetry?: (err: unknown, retriedMs: number, budgetMs: number) => void;
  /** The totals to keep up to date (read them when the run fails or is stopped). @defaultValue a new one, returned */
  summary?: ReprocessSummary;
  /** Called with each product counted in `skipped.unreadable`: its key and why (the sink's reason, or what its doc lacks). */
  onUnreadable?: (key: string, why: string) => void;
  /** With the running totals: after each batch put back, every 1000 products read, and at the end. */
  onProgress?: (s: ReprocessSummary) => void;
}

export interface ReprocessSummary {
  /** Products read from the sink (after its --category / --since filters). */
  scanned: number;
  /** Put back (with dryRun: would be). */
  reprocessed: number;
  /** Put back per stage they re-entered. */
  byStage: Record<string, number>;
  /**
   * Not put back: another model (--model), no model changed, never went through --from-stage,
   * unreadable doc, already put back and not stored again yet, or (`gone`, not in `scanned`) in the
   * redis sink's products set with no stored hash when read (stages/sinks/export-redis.ts GoneTally).
   */
  skipped: Record<SkipReason | 'inFlight' | 'gone', number>;
}

interface Item {
  p: StoredProductRef;
  stage: ResolvedStage;
  keys: Keys;
}

type Reply = [1, string] | [0, string];

/** Totals at zero. */
export function emptySummary(): ReprocessSummary {
  return { scanned: 0, reprocessed: 0, byStage: {}, skipped: { otherModel: 0, upToDate: 0, notOnRoute: 0, unreadable: 0, inFlight: 0, gone: 0 } };
}

/** Put back the products of `products` that the options select; resolves with the counts. */
export async function reprocess(
  redis: Redis,
  config: ResolvedConfig,
  products: AsyncIterable<StoredProductRef>,
  o: ReprocessOptions,
): Promise<ReprocessSummary> {
  checkFromStage(config, o.fromStage);
  const shards = configShards(config);
  const stages = new Map(config.stages.map((s) => [s.name, s]));
  const batchSize = o.batch ?? 100;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batch: expected a positive integer, got ${batchSize}`);
  const summary = o.summary ?? emptySummary();
  const retry = { retryForMs: o.retryForMs ?? DEFAULT_REPROCESS_RETRY_FOR_MS, retryBaseMs: o.retryBaseMs ?? 100, retryMaxMs: o.retryMaxMs ?? 5_000 };
  const done = (it: Item) => {
    summary.reprocessed++;
    summary.byStage[it.stage.name] = (summary.byStage[it.stage.name] ?? 0) + 1;
  };
  const ttl = String(o.markerTtlMs ?? DEFAULT_MARKER_TTL_MS);
  // Marks this run's put-backs: a call sent again (by the client after a dropped connection, or by
  // the retry below after an error that came once the call had gone through) is answered as put back.
  const run = randomUUID();

  /** Wait while any target stage of the batch (or a stage after it) is behind its maxLag, or Redis is full: a fresh reading of the target per batch. */
  const pressure = new Map<string, Backpressure>();
  const waitForRoom = async (items: readonly Item[]) => {
    const seen = new Set<string>();
    for (const it of items) {
      const id = `${it.keys.tag}\0${it.stage.name}`;
      if (seen.has(id)) continue;
      seen.add(id);
      // Its readings (XINFO GROUPS, INFO) ride out a failover like the put-backs.
      let bp = pressure.get(id);
      if (!bp) pressure.set(id, (bp = Backpressure.forStage(redis, it.stage, it.keys, 0, config)));
      const reading = bp;
      const clear = () =>
        reading.waitUntilClear({
          ...o.backpressure,
          onWait: (p, ms) => o.backpressure?.onWait?.(p, it.stage.name, ms),
        });
      await withRetry(redis, clear, { ...retry, onRetry: o.onRetry });
    }
  };

  /** One product through the script: put back, or already in flight; refused (Redis full, ...): tried again. */
  const send = async (it: Item): Promise<void> => {
    const env = rebuildEnvelope(it.p, it.stage.name, Date.now());
    let r: Reply | undefined;
    for (let attempt = 1, failingSince = 0; !r; attempt++) {
      try {
        r = await putBack.run<Reply>(
          redis,
          [it.keys.reprocess(it.p.key), it.keys.stream(it.stage.input)],
          [it.p.key, it.p.entryId, encodeEnvelope(env), it.stage.name, env.origin ?? '', ttl, String(Date.now()), run],
        );
      } catch (err) {
        failingSince ||= Date.now();
        retryOrThrow(redis, err, failingSince, retry.retryForMs, { onRetry: o.onRetry });
        await sleep(backoffMs(attempt, retry.retryBaseMs, retry.retryMaxMs));
      }
    }
    if (r[0] === 1) done(it);
    else summary.skipped.inFlight++;
  };

  const flush = async (items: Item[]) => {
    if (items.length === 0) return;
    if (o.dryRun) {
      const read = () => Promise.all(items.map((it) => redis.hget(it.keys.reprocess(it.p.key), 'from')));
      const markers = await withRetry(redis, read, { ...retry, onRetry: o.onRetry });
      items.forEach((it, i) => (markers[i] === it.p.entryId ? summary.skipped.inFlight++ : done(it)));
    } else {
      await waitForRoom(items);
      await Promise.all(items.map(send)); // pipelined on the one connection
    }
  };

  let batch: Item[] = [];
  for await (const p of products) {
    summary.scanned++;
    const plan = p.unreadable !== undefined ? ({ skip: 'unreadable' } as const) : planReprocess(p.doc, o);
    if ('skip' in plan) {
      summary.skipped[plan.skip]++;
      if (plan.skip === 'unreadable') o.onUnreadable?.(p.key, p.unreadable ?? unreadableWhy(p.doc) ?? 'unreadable');
      continue;
    }
    batch.push({ p, stage: stages.get(plan.stage)!, keys: shards.keysFor(p.key) });
    if (batch.length >= batchSize) {
      await flush(batch);
      batch = [];
      o.onProgress?.(summary);
    } else if (summary.scanned % 1000 === 0) o.onProgress?.(summary);
  }
  await flush(batch);
  o.onProgress?.(summary);
  return summary;
}
