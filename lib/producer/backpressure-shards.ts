import type { Redis } from 'ioredis';
import type { ResolvedConfig } from '../config/types.js';
import type { Keys } from '../redis/keys.js';
import { Backpressure, waitUntilClear, type Pressure, type WaitOptions } from './backpressure.js';

/**
 * Backpressure of the input of a sharded pipeline (config `shards` > 1): one Backpressure per
 * shard, each against the same limits (`limits.maxLag` applies per shard), read together. The
 * reading given is the shard furthest over its limit (Redis full first), else the one nearest to
 * it; it names its shard (`Pressure.shard`), so a message says which shard is behind and the lag
 * there, not the pipeline's total that `pipeline status` shows. Only shard 0 had been read: a
 * shard held behind (its workers gone) grew without bound while produce went on.
 */
export class ShardedBackpressure {
  readonly shards: Backpressure[];

  constructor(shards: Backpressure[]) {
    this.shards = shards;
  }

  /** The input stage of every shard (`keys`: each shard's, `Keys.shards`) and the stages after it, as Backpressure.forInput. */
  static forInput(redis: Redis, config: ResolvedConfig, keys: readonly Keys[], cacheMs?: number, downstreamCacheMs?: number): ShardedBackpressure {
    return new ShardedBackpressure(keys.map((k) => Backpressure.forInput(redis, config, k, cacheMs, downstreamCacheMs)));
  }

  /** The Backpressure of the shard whose input stream is `stream` (a producer lane waits on its own shard's alone). */
  of(stream: string): Backpressure | undefined {
    return this.shards.find((s) => s.opts.stream === stream);
  }

  /** Every shard's reading (each cached as Backpressure.check), reduced to the one that decides. */
  async check(): Promise<Pressure> {
    return worstOf(await Promise.all(this.shards.map((s) => s.check())));
  }

  /** As Backpressure.waitUntilClear: resolves once every shard is clear. */
  waitUntilClear(o: WaitOptions = {}): Promise<void> {
    return waitUntilClear(() => this.check(), o);
  }
}

/** The reading that decides: Redis full, else the one furthest over its maxLag (lag / maxLag), else the one nearest to it. */
export function worstOf(readings: readonly Pressure[]): Pressure {
  const oom = readings.find((p) => p.reason === 'oom');
  if (oom) return oom;
  const load = (p: Pressure) => p.lag / p.maxLag;
  return readings.reduce((worst, p) => (p.clear === worst.clear ? (load(p) > load(worst) ? p : worst) : p.clear ? worst : p));
}
