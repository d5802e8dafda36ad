import { backoffMs, sleep } from '../core/backoff.js';
import { classify, outageMetric } from '../core/failure-policy.js';
import type { ResolvedStage } from '../config/types.js';
import type { Logger } from '../observe/logger.js';
import type { Metrics } from '../observe/metrics.js';
import type { PermissionNotice } from './permission-notice.js';
import { isNoGroup } from '../core/redis-replies.js';
import type { Keys } from '../redis/keys.js';
import type { DataLossWatch } from './data-loss-watch.js';

export interface LoopErrorDeps {
  /**
   * Its `retryBaseMs` doubling with the errors in a row, to `retryMaxMs`; `stallTimeoutMs`: how long
   * transient errors in a row are logged at warn before they are logged at error.
   */
  stage: Pick<ResolvedStage, 'retryBaseMs' | 'retryMaxMs' | 'stallTimeoutMs'>;
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
  /** Told that the group of `keys`' shard vanished: Redis lost data (lib/worker/data-loss-watch.ts). @defaultValue none */
  dataLoss?: Pick<DataLossWatch, 'groupVanished'>;
  /** The consumer's shard's keys (for `dataLoss`). */
  keys?: Keys;
}

/** How long the read loop has been failing: errors in a row, since the first of them. */
export interface LoopErrorRun {
  inARow: number;
  /** Since the first error of the row. */
  failingMs: number;
}

/**
 * After an error caught by a consumer's read loop (`inARow`: errors in a row, the backoff doubles
 * with them to `retryMaxMs`, so a lasting one is not retried and logged every 100-200 ms): counted
 * (`consumer.loop_errors`, and its outage metric), logged (`consumer.loop_error`; a permission the
 * user lacks once, as `redis.noperm` naming it: lib/worker/permission-notice.ts, and the loop then
 * waits on purpose, which is not a stall), then waited out. A vanished group (Redis restarted
 * without persistence, or someone deleted it) is reported as a data loss (`redis.data_lost`) and created again.
 *
 * The level: a transient error (lib/core/failure-policy.ts: a failover's UNBLOCKED, READONLY,
 * MOVED, TRYAGAIN, CLUSTERDOWN, a socket reset) is expected while Redis fails over and the loop
 * recovers on its own, so it is a warn line until the errors in a row have lasted `stallTimeoutMs`
 * (the limit past which the watchdog calls the loop stalled); from then on, and for any other
 * error, an error line (docs/reliability.md "Read-loop errors and their log level").
 */
export async function afterLoopError(err: unknown, run: LoopErrorRun, d: LoopErrorDeps): Promise<void> {
  const { inARow, failingMs } = run;
  d.metrics.increment('consumer.loop_errors', 1, d.tags);
  const outage = outageMetric(err);
  if (outage) d.metrics.increment(outage, 1, d.tags);
  const delayMs = backoffMs(inARow, d.stage.retryBaseMs, d.stage.retryMaxMs);
  if (d.permissions.report('loop', err)) d.progress();
  else {
    const c = classify(err);
    const transient = c.class === 'transient';
    const fields = { err, transient, ...(c.outage ? { outage: c.outage } : {}), inARow, failingMs, delayMs };
    if (transient && failingMs < d.stage.stallTimeoutMs) d.logger.warn('consumer.loop_error', fields);
    else d.logger.error('consumer.loop_error', transient ? { ...fields, persistedPastMs: d.stage.stallTimeoutMs } : fields);
  }
  await sleep(delayMs);
  if (!isNoGroup(err)) return;
  // Redis lost data (a restart without the AOF, a failover that lost writes): said loudly, then the pipeline goes on.
  if (d.dataLoss && d.keys) await d.dataLoss.groupVanished(d.keys, d.source).catch((e: unknown) => d.logger.error('redis.data_lost_report_error', { err: e }));
  await d.ensureGroup().then(
    () => d.logger.warn('consumer.group_recreated', { stream: d.source }),
    (e: unknown) => d.logger.error('consumer.group_recreate_error', { err: e }),
  );
}

/** The read loop's errors in a row: `after` each caught error, `clear` after a turn that went well. */
export class LoopErrors {
  private inARow = 0;
  private since = 0;

  constructor(private readonly d: LoopErrorDeps) {}

  clear(): void {
    this.inARow = 0;
  }

  after(err: unknown, now = Date.now()): Promise<void> {
    if (this.inARow++ === 0) this.since = now;
    return afterLoopError(err, { inARow: this.inARow, failingMs: now - this.since }, this.d);
  }
}
