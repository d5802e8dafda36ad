import { backoffMs, sleep } from '../core/backoff.js';
import { errorMessage } from '../core/errors.js';
import { isTransientRedisError, outageMetric } from '../core/failure-policy.js';
import type { ResolvedStage } from '../config/types.js';
import type { Logger } from '../observe/logger.js';
import type { Metrics } from '../observe/metrics.js';
import type { PermissionNotice } from './permission-notice.js';

export interface LoopErrorDeps {
  /** Its `retryBaseMs` doubling with the errors in a row, to `retryMaxMs`. */
  stage: Pick<ResolvedStage, 'retryBaseMs' | 'retryMaxMs'>;
  /** The consumer's input stream (named when its group is made again). */
  source: string;
  logger: Logger;
  metrics: Metrics;
  tags: Record<string, string>;
  permissions: PermissionNotice;
  /** The loop is alive and waiting on purpose: tell the watchdog. */
  progress: () => void;
  /** Create the consumer's group again (it vanished: NOGROUP). */
  ensureGroup: () => Promise<void>;
}

/**
 * After an error caught by a consumer's read loop (`inARow`: errors in a row, the backoff doubles
 * with them to `retryMaxMs`, so a lasting one is not retried and logged every 100-200 ms): counted
 * (`consumer.loop_errors`, and its outage metric), logged (`consumer.loop_error`; a permission the
 * user lacks once, as `redis.noperm` naming it: lib/worker/permission-notice.ts, and the loop then
 * waits on purpose, which is not a stall), then waited out. A vanished group (Redis restarted
 * without persistence, or someone deleted it) is created again.
 */
export async function afterLoopError(err: unknown, inARow: number, d: LoopErrorDeps): Promise<void> {
  d.metrics.increment('consumer.loop_errors', 1, d.tags);
  const outage = outageMetric(err);
  if (outage) d.metrics.increment(outage, 1, d.tags);
  const delayMs = backoffMs(inARow, d.stage.retryBaseMs, d.stage.retryMaxMs);
  if (d.permissions.report('loop', err)) d.progress();
  else d.logger.error('consumer.loop_error', { err, transient: isTransientRedisError(err), inARow, delayMs });
  await sleep(delayMs);
  if (errorMessage(err).includes('NOGROUP'))
    await d.ensureGroup().then(
      () => d.logger.warn('consumer.group_recreated', { stream: d.source }),
      (e: unknown) => d.logger.error('consumer.group_recreate_error', { err: e }),
    );
}
