import { backoffMs, sleep } from '../core/backoff.js';
import { classify, isTransientRedisError, outageMetric } from '../core/failure-policy.js';
import type { OutageWaitOptions } from '../core/outage-wait.js';

/**
 * A start-up step against Redis (load the Functions library, join the groups), tried until it
 * succeeds while Redis answers with an outage (OOM: full; LOADING, BUSY, ...; a dropped
 * connection): as a running worker waits out a full Redis in place, a starting one does too,
 * instead of exiting and being restarted again and again. Each refusal is counted (`redis.oom`, `redis.misconf`,
 * `redis.unavailable`, `network.unavailable`); each cause is logged once (`worker.start_waiting`,
 * warn), and `worker.start_resumed` says when the step went through. Other errors are thrown.
 */
export async function waitOutAtStart<T>(
  step: string,
  work: () => Promise<T>,
  o: OutageWaitOptions & {
    /** A failure behind this error that waiting cannot fix (a connection refused for its credentials or database): thrown at once. */
    refused?: (err: unknown) => boolean;
  },
): Promise<T> {
  const logged = new Set<string>();
  const since = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      const r = await work();
      if (logged.size > 0) o.logger.info('worker.start_resumed', { step, waitedMs: Date.now() - since });
      return r;
    } catch (err) {
      if (!isTransientRedisError(err) || o.stopping() || o.refused?.(err)) throw err;
      const metric = outageMetric(err);
      if (metric) o.metrics.increment(metric, 1, o.tags);
      const cause = classify(err).outage ?? 'unknown';
      const delayMs = backoffMs(attempt, o.retryBaseMs, o.retryMaxMs);
      if (!logged.has(cause)) {
        logged.add(cause);
        o.logger.warn('worker.start_waiting', { step, cause, err, delayMs });
      }
      await sleep(delayMs);
      if (o.stopping()) throw err;
    }
  }
}
