import type { Redis } from 'ioredis';
import { backoffMs, sleep } from '../core/backoff.js';
import { isTransientRedisError } from '../core/failure-policy.js';
import { DEFAULT_WAIT_REPLICAS, type WaitReplicas } from '../core/wait-replicas.js';
import { clusterNodeError } from '../redis/cluster-node.js';
import { asCluster } from '../redis/url.js';
import { isOutOfMemory, isRedirectOrExhausted } from '../core/redis-replies.js';

/** The retry settings of ProduceOptions (there documented). */
export interface RetrySettings {
  retryForMs?: number;
  waitReplicas?: WaitReplicas;
  retryBaseMs?: number;
  retryMaxMs?: number;
  onRetry?: (err: unknown, retriedMs: number, budgetMs: number) => void;
}

/**
 * A MOVED/ASK reply that reached us (a pipeline holding a write is not re-routed by ioredis), or a
 * Cluster client out of redirections mid-failover: refresh the slot map and try again.
 */
const isRedirect = isRedirectOrExhausted;

/**
 * An error a batch (or the read of a run's state) is tried again after, within `retryForMs` of
 * its first failure: transient Redis errors, redirects, OOM. Calls `onRetry`; throws anything else,
 * or once the window is spent. A redirect that reached a single-node client (a `redis://` URL at a
 * Cluster node, which it can never follow) is thrown at once as ClusterNodeError.
 */
export function retryOrThrow(redis: Redis, err: unknown, failingSince: number, budget: number, opts: RetrySettings): void {
  const node = clusterNodeError(redis, err);
  if (node) throw node;
  // OOM: Redis is full, an outage like the others (the batch went nowhere: functions are refused whole).
  if (!(isTransientRedisError(err) || isRedirect(err) || isOutOfMemory(err)) || Date.now() - failingSince >= budget) throw err;
  if (isRedirect(err)) asCluster(redis)?.refreshSlotsCache();
  opts.onRetry?.(err, Date.now() - failingSince, budget);
}

/** How long a failing batch is retried: `retryForMs`, else 30 s with `waitReplicas` (a number above 0, or "auto", the default), else not at all. */
export const retryBudget = (opts: RetrySettings) => {
  const wait = opts.waitReplicas ?? DEFAULT_WAIT_REPLICAS;
  return opts.retryForMs ?? (wait === 'auto' || wait > 0 ? 30_000 : 0);
};

/**
 * `step` until it succeeds: an error `retryOrThrow` retries (a transient Redis error, a redirect,
 * OOM) is tried again with backoff (`retryBaseMs`, default 100, doubling to `retryMaxMs`, default
 * 5000) for `retryBudget(opts)` from its first failure, calling `onRetry`; anything else, or the
 * window spent, is thrown. For reads that must ride out a failover (reprocess's scan).
 */
export async function withRetry<T>(redis: Redis, step: () => Promise<T>, opts: RetrySettings): Promise<T> {
  const budget = retryBudget(opts);
  let failingSince = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (err) {
      failingSince ||= Date.now();
      retryOrThrow(redis, err, failingSince, budget, opts);
      await sleep(backoffMs(attempt, opts.retryBaseMs ?? 100, opts.retryMaxMs ?? 5_000));
    }
  }
}
