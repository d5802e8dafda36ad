import type { Redis } from 'ioredis';
import type { Logger } from '../observe/logger.js';
import { noopMetrics } from '../observe/metrics.js';
import { checkEvictionPolicy, infoPolicy, refuseEvictingPolicy } from '../redis/policy.js';
import { API_WITNESS } from '../stream/data-loss.js';
import { PolicyWatch } from '../worker/policy-watch.js';
import { EvictingRedis } from './errors.js';

/** The API server's guard of lib/api/eviction-guard.ts. */
export interface EvictionGuard {
  /** The `allkeys-*` policy Redis has now (as last read), else undefined. */
  evicting(): string | undefined;
  /** Throws EvictingRedis (503) while Redis evicts any key: the submit routes call it before writing. */
  assertTakesRecords(): void;
  /** Stop reading; a read in flight is waited for at most `waitMs`. */
  stop(waitMs: number): Promise<void>;
}

/**
 * The API server (`pipeline serve`) on Redis's `maxmemory-policy`, as the workers and `produce`:
 * `allkeys-*` at start is refused (EvictingPolicyError, a config error: the server does not start),
 * `volatile-*` is warned about (`redis.eviction_policy`). Then the workers' watch
 * (lib/worker/policy-watch.ts) reads it again every `intervalMs` and says each change; while it is
 * `allkeys-*`, `assertTakesRecords` refuses submissions and `/readyz` says why. Redis unreachable
 * at start: nothing is refused (the watch reads it once Redis answers).
 */
export async function guardEviction(d: { redis: Redis; logger: Logger; intervalMs: number }): Promise<EvictionGuard> {
  // INFO memory, not CONFIG GET: the API user of `pipeline acl` may not run CONFIG, and its refusal would go into the ACL log.
  const policy = refuseEvictingPolicy(
    await checkEvictionPolicy(d.redis, (err, p) => d.logger.warn('redis.eviction_policy', { policy: p ?? null, err }), infoPolicy),
  );
  // Counted by the workers' watches (`redis.eviction_policy`, which the alert pages on), not again here.
  const watch = new PolicyWatch({
    redis: () => d.redis,
    intervalMs: d.intervalMs,
    logger: d.logger,
    metrics: noopMetrics,
    stage: API_WITNESS,
    who: 'the API server',
  });
  watch.start(policy);
  return {
    evicting: () => watch.evicting,
    assertTakesRecords: () => {
      const p = watch.evicting;
      if (p) throw new EvictingRedis(p);
    },
    stop: (waitMs) => watch.stop(waitMs),
  };
}
