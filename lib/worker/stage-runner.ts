import type { Redis } from 'ioredis';
import { backoffMs, sleep } from '../core/backoff.js';
import type { Message } from '../stream/codec.js';
import type { ResolvedStage } from '../config/types.js';
import { errorMessage, NotRunError, StageError, StageTimeoutError } from '../core/errors.js';
import { classify, dependencyOf, isolateEach, isPermissionRefusal, isPostgresRefusal, outageMetric, waitInPlace, type Outage } from '../core/failure-policy.js';
import type { Logger } from '../observe/logger.js';
import type { Metrics } from '../observe/metrics.js';
import { fail, type Stage, type StageResult } from './stage.js';
import type { PermissionNotice } from './permission-notice.js';

export interface StageRunnerDeps {
  impl: Stage;
  stage: ResolvedStage;
  /** The shared command connection (for the keep-claimed XCLAIM). */
  redis: () => Redis;
  source: string;
  group: string;
  consumer: string;
  logger: Logger;
  metrics: Metrics;
  tags: Record<string, string>;
  /** True once shutdown began: an outage is not waited out then. */
  stopping: () => boolean;
  /** The loop is alive and waiting on purpose (an outage): tell the watchdog. */
  progress: () => void;
  /** Says a Redis permission refusal once, and when it is over; notes a PostgreSQL one (lib/worker/permission-notice.ts). @defaultValue none */
  permissions?: PermissionNotice;
}

const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));

/** The last error of a dependency wait, as one line of at most this many characters. */
const ERROR_LINE_MAX = 240;

/**
 * A batch waiting out a dependency outage in place (Postgres down, a model server unreachable): what
 * the consumer's liveness record publishes as `outage` (lib/worker/watchdog.ts), which `pipeline top`,
 * `status` and `health` show; information, not a failure (waiting out an outage is progress).
 */
export interface DependencyWait {
  /** What is out, for a person: `PostgreSQL`, `Redis`, what a stage's TransientError names (lib/core/failure-policy.ts `dependencyOf`). */
  dependency: string;
  /** The outage class (lib/core/failure-policy.ts `Outage`). */
  cause: Outage;
  /** When the batch began waiting (ms). */
  since: number;
  /** The last try's error, one line. */
  error: string;
}

/** An error as one line: its first line, whitespace collapsed, cut at ERROR_LINE_MAX. */
function oneLine(err: unknown): string {
  const line = errorMessage(err).split('\n')[0]!.replace(/\s+/g, ' ').trim() || String((err as { code?: unknown })?.code ?? 'unknown error');
  return line.length > ERROR_LINE_MAX ? `${line.slice(0, ERROR_LINE_MAX - 1)}…` : line;
}

/**
 * An outage waited out (a stage's call, a batch's hand-off) as a DependencyWait; undefined for a
 * permission refusal (on the record as `waiting`, lib/worker/permission-notice.ts) and for an error
 * that is no outage.
 */
export function dependencyWait(err: unknown, since: number): DependencyWait | undefined {
  if (isPermissionRefusal(err) || isPostgresRefusal(err)) return undefined;
  const dependency = dependencyOf(err);
  return dependency ? { dependency, cause: classify(err).outage ?? 'dependency', since, error: oneLine(err) } : undefined;
}

/**
 * Runs the stage on one batch, on the consumer's single processing path: one call for the whole
 * batch (model stages batch their inference), entries kept claimed (idle time reset) while it runs,
 * a dependency outage waited out in place, and a batch that throws split so one poison message
 * fails only itself.
 */
export class StageRunner {
  /** When each call abandoned at `stageTimeoutMs` and not returned since was abandoned. */
  private readonly abandoned = new Set<{ at: number }>();

  /** Since when the batch has been waiting in place for a dependency outage (undefined: it is not). */
  outageSince?: number;

  /** What the batch waits for while it waits out an outage (not a permission refusal: those are `waiting`); undefined once a batch goes through. */
  outage?: DependencyWait;

  constructor(private readonly d: StageRunnerDeps) {}

  /** Since when the oldest abandoned stage call has been hanging (undefined: none is). */
  get stuckSince(): number | undefined {
    let oldest: number | undefined;
    for (const { at } of this.abandoned) oldest = oldest === undefined ? at : Math.min(oldest, at);
    return oldest;
  }

  /**
   * `impl.process`, abandoned after `stageTimeoutMs`: the promise cannot be cancelled, so it is
   * left running (tracked until it settles) and the batch fails with a StageTimeoutError, which
   * the failure policy treats as poison: retried with a delivery counted, dead-lettered after
   * `maxDeliveries`. The idle-time reset of its entries (keepClaimedMs) stops with it.
   */
  private async process(messages: Message[]): Promise<StageResult[]> {
    const { impl, stage, metrics, logger, tags } = this.d;
    const call = impl.process(messages);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'late'>((res) => (timer = setTimeout(() => res('late'), stage.stageTimeoutMs)));
    try {
      const r = await Promise.race([call, deadline]);
      if (r !== 'late') return r;
    } finally {
      clearTimeout(timer);
    }
    const hanging = { at: Date.now() };
    this.abandoned.add(hanging);
    const settled = () => {
      this.abandoned.delete(hanging);
      logger.warn('stage.abandoned_call_returned', { afterMs: Date.now() - hanging.at + stage.stageTimeoutMs, batch: messages.length });
    };
    call.then(settled, settled);
    metrics.increment('stage.timeouts', 1, tags);
    logger.error('stage.timeout', {
      stageTimeoutMs: stage.stageTimeoutMs,
      batch: messages.length,
      ids: messages.map((m) => m.id),
      hanging: this.abandoned.size,
    });
    throw new StageTimeoutError(`stage call did not return within stageTimeoutMs (${stage.stageTimeoutMs} ms); abandoned`);
  }

  /**
   * A dependency outage (every message failed with a TransientError, e.g. the sink is down)
   * retries the same batch in place with backoff: no delivery is counted, nothing new is read,
   * and the keep-claimed timer keeps the entries ours, so no reclaimer bumps their delivery count.
   * `held` lists the other ids the consumer holds (queued retries), kept alive too.
   */
  async run(messages: Message[], held: () => string[]): Promise<StageResult[]> {
    const keepClaimed = this.keepClaimed(
      messages.map((m) => m.id),
      held,
    );
    try {
      return await this.callThroughOutages(messages, false);
    } finally {
      clearInterval(keepClaimed);
    }
  }

  /**
   * The call for messages this stage runs fused in another stage's batch (lib/worker/fusion.ts):
   * no idle-time reset here, since the entries belong to the other stage's stream (its consumer
   * holds them). An outage is waited out in place as in `run`, and the same messages called again:
   * a sink that wrote part of the batch before failing then sees the same entry ids again (a
   * re-delivery). Sent through this stage's stream instead, they came back under new ids and were
   * stored a second time (`copies` 2). What fails otherwise goes through this stage's stream to
   * its own consumer.
   */
  once(messages: Message[]): Promise<StageResult[]> {
    return this.callThroughOutages(messages, true);
  }

  /** Calls the stage on `messages` until the results are not an outage (or shutdown began), backing off between tries. */
  private async callThroughOutages(messages: Message[], fused: boolean): Promise<StageResult[]> {
    const { stage, metrics, logger, tags } = this.d;
    const t0 = Date.now();
    try {
      for (let outage = 1; ; outage++) {
        const results = await this.call(messages);
        const first = results[0];
        const errors = results.map((r) => (r.ok ? undefined : r.error));
        if (!waitInPlace(errors, this.d.stopping())) {
          if (!errors.some((e) => e !== undefined && isPermissionRefusal(e))) this.d.permissions?.clear('stage');
          if (!errors.some((e) => e !== undefined && isPostgresRefusal(e))) this.d.permissions?.clear('stage', 'postgres');
          return results;
        }
        // A permission this stage's Redis user lacks (e.g. the store's upsert after an upgrade without `pipeline acl --apply`): said once.
        // A privilege the store's database role lacks: on the liveness record too, with its GRANT (the sink logs it).
        if (first && !first.ok && !this.d.permissions?.report('stage', first.error)) this.d.permissions?.reportPostgres('stage', first.error);
        this.outageSince ??= Date.now();
        // Any other outage: what it waits for, since when and the last error, on the liveness record (`outage`).
        this.outage = first && !first.ok ? dependencyWait(first.error, this.outageSince) : undefined;
        const delayMs = backoffMs(outage, stage.retryBaseMs, stage.retryMaxMs);
        metrics.increment('batch.transient_retries', 1, tags);
        const alert = first && !first.ok ? outageMetric(first.error) : undefined;
        if (alert) metrics.increment(alert, 1, tags);
        logger.warn('stage.transient_retry', {
          outage,
          delayMs,
          batch: messages.length,
          ...(fused ? { fused } : {}),
          ids: messages.map((m) => m.id),
          err: first && !first.ok ? first.error : undefined,
        });
        this.d.progress(); // waiting out an outage on purpose is not a stall
        await sleep(delayMs);
      }
    } finally {
      this.outageSince = undefined;
      this.outage = undefined;
      metrics.timing('batch.process_ms', Date.now() - t0, tags);
    }
  }

  /**
   * One stage call. When the whole call throws (e.g. one malformed envelope breaks the model's
   * input), each message runs alone, so a poison message fails only itself and the rest of the
   * batch goes on; a transient error (outage) fails them all without splitting.
   */
  private async call(messages: Message[]): Promise<StageResult[]> {
    const { metrics, logger, tags } = this.d;
    try {
      const results = await this.process(messages);
      if (results.length !== messages.length) throw new StageError(`stage returned ${results.length} results for ${messages.length} messages`);
      return results;
    } catch (err) {
      const error = asError(err);
      logger.error('stage.batch_error', { err: error, batch: messages.length, ids: messages.map((m) => m.id) });
      metrics.increment('batch.errors', 1, tags);
      if (!isolateEach(error, messages.length)) return messages.map(() => fail(error));
      metrics.increment('batch.isolated', 1, tags);
      const out: StageResult[] = [];
      // After one message hangs past the deadline alone, the rest are not run this time (each
      // could hang as long again): they are retried later without a delivery counted, so only
      // the message that hangs uses up its deliveries. They did nothing wrong: counted apart
      // (messages.deferred), not as errors.
      let hung: StageTimeoutError | undefined;
      let hungId = '';
      const notRun: string[] = [];
      for (const m of messages) {
        if (hung) {
          out.push(fail(new NotRunError(hungId, hung)));
          notRun.push(m.id);
          continue;
        }
        try {
          const [r] = await this.process([m]);
          out.push(r ?? fail(new StageError('stage returned no result')));
        } catch (e) {
          if (e instanceof StageTimeoutError) [hung, hungId] = [e, m.id];
          out.push(fail(asError(e)));
        }
      }
      if (notRun.length > 0) {
        metrics.increment('messages.deferred', notRun.length, tags);
        logger.warn('stage.deferred', { hung: hungId, count: notRun.length, ids: notRun, stageTimeoutMs: this.d.stage.stageTimeoutMs });
      }
      return out;
    }
  }

  /** Keep `ids` (and `held()`) claimed while `work` runs: the part of a batch fused stages run (lib/worker/fusion.ts). */
  async holding<T>(ids: string[], held: () => string[], work: () => Promise<T>): Promise<T> {
    // The work is other stages' fused calls: each bounded by its stageTimeoutMs, or waiting out an
    // outage on purpose (StageRunner.once). Either way this loop is not stuck: tell the watchdog.
    const timer = this.keepClaimed(ids, held, () => this.d.progress());
    try {
      return await work();
    } finally {
      clearInterval(timer);
    }
  }

  /** While a batch runs, reset its entries' idle time (XCLAIM JUSTID) so no reclaimer takes them. */
  private keepClaimed(ids: string[], held: () => string[], tick?: () => void): NodeJS.Timeout {
    const { metrics, logger, tags } = this.d;
    const timer = setInterval(() => {
      tick?.();
      this.d
        .redis()
        .xclaim(this.d.source, this.d.group, this.d.consumer, 0, ...ids, ...held(), 'JUSTID')
        .catch((err: unknown) => {
          metrics.increment('keep_claimed.errors', 1, tags);
          logger.warn('consumer.keep_claimed_error', { err });
        });
    }, this.d.stage.keepClaimedMs);
    timer.unref();
    return timer;
  }
}
