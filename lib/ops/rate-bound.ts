import type { Redis } from 'ioredis';
import type { ResolvedConfig } from '../config/types.js';
import { configShards } from '../redis/shard.js';
import { tokensUsed } from '../stream/rate-bucket.js';
import { backlog, type PipelineStatus } from './inspect.js';

/**
 * Whether a unit's lag is held back by its stages' `rateLimit` rather than by too few workers: the
 * autoscaler (lib/ops/autoscaler.ts) adds none then, since more workers would only wait on the
 * same token bucket (lib/worker/rate-gate.ts).
 *
 * The signal is the tokens the lagging stages' buckets handed out over the whole scale-up window
 * (the bucket's `n`, lib/lua/rate-limit-1.lua), at least `RATE_BOUND_SHARE` of what the limit lets
 * through in that time. Why not "the bucket is empty" on a sample: with a batch as large as the
 * bucket it swings from full to empty every window, so one instant says little; a rate over the
 * window is what the lag trigger is judged on too. Read with HGET only (no token taken, no clock of
 * the server needed: the window is timed by the autoscaler, as its lag window is).
 */

/** The share of a limit a window's throughput must reach to count as used up (a batch taken late at either end of the window is not a free worker). */
export const RATE_BOUND_SHARE = 0.9;

/** One token bucket (one stage on one shard) as sampled. */
export interface BucketSample {
  stage: string;
  /** The bucket's key: the window's start is remembered per key. */
  key: string;
  /** Tokens handed out in all (granted minus returned; 0 when the key is gone). */
  used: number;
  records: number;
  perMs: number;
}

/** Tokens used per bucket at the start of a window. */
export type UsedAt = ReadonlyMap<string, number>;

export const usedAt = (buckets: readonly BucketSample[] | undefined): UsedAt => new Map((buckets ?? []).map((b) => [b.key, b.used]));

/**
 * Pure: every bucket took at least RATE_BOUND_SHARE of its limit over `elapsedMs` since `since`.
 * A bucket not seen at the window's start, or whose count went down (the key expired when idle),
 * is not known to be used up: false.
 */
export function usedUp(since: UsedAt | undefined, buckets: readonly BucketSample[] | undefined, elapsedMs: number): boolean {
  if (!since || !buckets?.length || elapsedMs <= 0) return false;
  return buckets.every((b) => {
    const start = since.get(b.key);
    if (start === undefined || b.used < start) return false;
    return b.used - start >= (RATE_BOUND_SHARE * b.records * elapsedMs) / b.perMs;
  });
}

/**
 * The buckets that decide whether a unit is rate-bound: those of its stages whose lag reaches
 * `scaleUpLag` (the stages that make it scale up), on each shard where that stage has lag (a
 * shard's bucket is its own: docs/configuration.md#rate-limit). Undefined when one such stage has
 * no `rateLimit` (more workers help it) or none lags.
 */
export async function lagBuckets(
  redis: Redis,
  config: ResolvedConfig,
  stages: readonly string[],
  status: PipelineStatus,
  scaleUpLag: number,
): Promise<BucketSample[] | undefined> {
  const byStage = (streams: PipelineStatus['streams'], name: string) => streams.find((s) => s.stage === name);
  const lagging = stages.filter((name) => {
    const s = byStage(status.streams, name);
    const lag = s ? backlog(s) : null;
    return lag !== null && lag >= scaleUpLag;
  });
  const limited = lagging.map((name) => config.stages.find((s) => s.name === name)!);
  if (limited.length === 0 || limited.some((s) => !s.rateLimit)) return undefined;
  const shards = configShards(config).all;
  const perShard = status.shards?.map((sh) => sh.streams) ?? [status.streams];
  const wanted = limited.flatMap((stage) =>
    shards.flatMap((keys, i) => {
      const s = byStage(perShard[i] ?? [], stage.name);
      const lag = s ? backlog(s) : null;
      // A shard with nothing waiting needs no worker, whatever its bucket; an unknown lag is checked.
      return lag === 0 ? [] : [{ stage: stage.name, key: keys.rateLimit(stage.name), ...stage.rateLimit! }];
    }),
  );
  return Promise.all(wanted.map(async (b) => ({ ...b, used: await tokensUsed(redis, b.key) })));
}
