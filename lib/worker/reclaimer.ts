import type { Redis } from 'ioredis';
import type { StreamConsumer } from './consumer.js';
import type { ConsumerDeps } from './consumer.js';
import { Script } from '../redis/script.js';
import { fenceToken } from '../stream/handoff.js';
import { trimAcked } from '../stream/retention.js';
import { Periodic } from '../core/periodic.js';
import { handOverLapsed } from './liveness-handover.js';
import { RefusalHold } from './refusal-hold.js';
import { ThrottledWarn } from '../observe/throttled-warn.js';

const deleteIdleConsumer = new Script('delete-idle-consumer-1');
const claimScript = new Script('claim-3');
/** A check due on the same period as the passes (the defaults: 5 s both) is not skipped for a timer that fires a few ms early. */
const TIMER_SLACK_MS = 20;

/** The claim's minimum idle time while holding (RefusalHold): no entry is that idle, so the claim takes nothing and only probes whether writes are taken. */
const PROBE_IDLE_MS = Number.MAX_SAFE_INTEGER;

/** XAUTOCLAIM ... JUSTID: next cursor, claimed ids, ids whose data was deleted. */
type AutoclaimReply = [Buffer, Buffer[], Buffer[]?];

export interface ReclaimerOptions {
  /** While passes keep failing (Redis down or full), at most one `reclaim.error` line per this long, with the passes it stands for. @defaultValue 60000 */
  errorLogEveryMs?: number;
}

/**
 * The background side of a consumer, every `claimIntervalMs`: claims entries idle past
 * `claimMinIdleMs` from any consumer of the group (XAUTOCLAIM, bumping the group's claim fence)
 * and queues them on this consumer, each delivery counted when it runs (take-claimed-1.lua), so
 * `maxDeliveries` is enforced across crashes; at most every `livenessHandoverMs`, first makes the
 * entries of consumers whose alive key lapsed claimable (lib/worker/liveness-handover.ts), so
 * the same pass takes them; removes consumers that are gone and own nothing; trims what every group
 * has acked.
 */
export class Reclaimer {
  private readonly loop: Periodic;
  private cursor = '0-0';
  /** Entries claimed so far, and consumers removed, for logs and tests. */
  reclaimed = 0;
  removedConsumers = 0;
  private lapsedCheckedAt = -Infinity;
  /** After Redis refused writes (MISCONF), nothing is taken over until every live owner could keep its entries again (lib/worker/refusal-hold.ts). */
  private readonly hold: RefusalHold;
  private readonly warnings: ThrottledWarn;
  /** Passes in a row with a failed step, and since when (Date.now(); 0: the last pass went well). */
  private failedPasses = 0;
  private failingSince = 0;

  constructor(
    private readonly d: ConsumerDeps,
    private readonly consumer: StreamConsumer,
    opts: ReclaimerOptions = {},
  ) {
    this.warnings = new ThrottledWarn(d.logger, opts.errorLogEveryMs ?? 60_000);
    this.hold = new RefusalHold(Math.max(d.stage.claimMinIdleMs, d.stage.aliveTtlMs));
    this.loop = new Periodic(
      () => this.runOnce(),
      d.stage.claimIntervalMs,
      (err) => d.logger.error('reclaim.error', { err }),
    );
  }

  private get redis(): Redis {
    return this.d.connections.command();
  }

  private get tags() {
    return { stage: this.d.stage.name };
  }

  /**
   * The first pass at once, then every `claimIntervalMs`: a worker restarted after a crash takes
   * what its predecessor held (made claimable by the supervisor, lib/ops/dead-handover.ts) as soon
   * as it reads, not one interval later.
   */
  start(): void {
    this.loop.start(true);
  }

  /** Stop the timer and wait for a pass in progress, at most `drainTimeoutMs` (Redis may be down). */
  async stop(): Promise<void> {
    await this.loop.stop(this.d.stage.drainTimeoutMs);
  }

  /** One pass; errors are counted and logged (`outcome`), and the next pass tries again. */
  async runOnce(): Promise<void> {
    let refused = false;
    const failures: { step: string; err: unknown }[] = [];
    // A paused stage (`pipeline pause`) takes nothing over and removes no consumer (its own are idle on purpose): it only trims.
    // Read, not only as the loop last saw it: the first pass at start runs before the loop's first read of the flag.
    // Unreadable (Redis down): as if paused for this pass.
    let paused = true;
    try {
      paused = (await this.consumer.pausedNow()) !== undefined;
    } catch (err) {
      refused = this.failed('pause', err, failures);
    }
    for (const [step, fn] of [
      ['lapsed', () => this.handOverLapsed()],
      ['claim', () => this.claim()],
      ['cleanup', () => this.removeGoneConsumers()],
      ['trim', () => this.trim()],
    ] as const) {
      if (paused && step !== 'trim') continue;
      try {
        await fn();
      } catch (err) {
        refused = this.failed(step, err, failures) || refused;
      }
    }
    if (!refused) this.consumer.permissions.clear('reclaim');
    this.outcome(failures);
  }

  /**
   * An outage is said once as it begins (`reclaim.error`: the first failed step and its error, `failedPasses`
   * in a row so far, `failures`: passes since the previous line), then at most every `errorLogEveryMs`,
   * and its end once (`reclaim.recovered`, with the passes that failed): not a line per pass per consumer.
   */
  private outcome(failures: { step: string; err: unknown }[]): void {
    const now = Date.now();
    const first = failures[0];
    if (first) {
      this.failedPasses++;
      this.failingSince ||= now;
      const steps = failures.length > 1 ? { failedSteps: failures.map((f) => f.step) } : {};
      this.warnings.warn(
        'reclaim.error',
        { step: first.step, err: first.err, ...steps, failedPasses: this.failedPasses, failingMs: now - this.failingSince },
        now,
      );
      return;
    }
    if (this.failedPasses === 0) return;
    this.d.logger.info('reclaim.recovered', { failedPasses: this.failedPasses, downMs: now - this.failingSince });
    this.failedPasses = 0;
    this.failingSince = 0;
    this.warnings.reset('reclaim.error');
  }

  /** A step failed: counted; a permission the user lacks said once for the reclaimer (true then), naming the command and keys; else kept for the pass's line (`outcome`). */
  private failed(step: string, err: unknown, failures: { step: string; err: unknown }[]): boolean {
    this.d.metrics.increment('reclaim.errors', 1, { ...this.tags, step });
    this.hold.refused(err);
    if (this.consumer.permissions.report('reclaim', err)) {
      this.d.metrics.increment('redis.noperm', 1, this.tags);
      return true;
    }
    failures.push({ step, err });
    return false;
  }

  /**
   * At most every `livenessHandoverMs` (0: never): the entries of consumers whose alive key
   * lapsed are made claimable (lib/worker/liveness-handover.ts), and this pass's claim, scanning
   * the group from its start again, takes them (as many as it takes in one pass).
   * Not while `unsettled()`: checked before, and again after the alive keys are read (a read sent before
   * an outage is sent again after it, and then finds every key lapsed).
   */
  private async handOverLapsed(): Promise<void> {
    const every = this.d.stage.livenessHandoverMs;
    if (every === 0 || this.consumer.isStopping || this.unsettled() || this.hold.holding() || performance.now() - this.lapsedCheckedAt < every - TIMER_SLACK_MS)
      return;
    this.lapsedCheckedAt = performance.now();
    const n = await handOverLapsed(this.redis, this.consumer.source, { ...this.d, unsettled: () => this.unsettled() });
    if (n > 0) this.cursor = '0-0';
  }

  /**
   * Whether this process's connections had trouble, or came back from it, less than `aliveTtlMs` and
   * the longest reconnect delay ago: a Redis restart, a failover or a network cut lets every
   * consumer's alive key lapse while none died, and the others may be back that much later than
   * this one (reconnect backoff), then beat within `watchdogIntervalMs`.
   */
  private unsettled(): boolean {
    const at = this.d.connections.lastTroubleAt;
    return at > 0 && Date.now() - at < this.d.stage.aliveTtlMs + this.d.connections.reconnectMaxMs;
  }

  private async claim(): Promise<void> {
    const { stage, metrics, logger } = this.d;
    // Busy, or shutting down (what it would claim could not be finished): leave entries to others.
    if (this.consumer.queued >= stage.batchSize || this.consumer.isStopping) return;
    const source = this.consumer.source;
    const holding = this.hold.holding();
    // XAUTOCLAIM and, if it took any, a new claim fence value, in one step (lib/lua/claim-3.lua):
    // the consumers these entries are taken from then hand off checking each message.
    // JUSTID: ownership only, no delivery counted now; each entry's delivery is counted when it
    // runs, by itself (lib/worker/take-claimed.ts), so the records of a batch that crashed its
    // consumer are not charged for the one that did.
    // Its reply is kept in the consumer's claim memory for `consumerIdleRemoveMs`: a claim the client
    // sends again after losing the reply gets the entries the first call took (lib/lua/claim-3.lua).
    const memory = this.d.keys.livenessClaim(stage.name, this.d.consumer);
    const idle = holding ? PROBE_IDLE_MS : stage.claimMinIdleMs;
    const reply = await claimScript.runBuffer<AutoclaimReply>(
      this.redis,
      [source, this.d.keys.fence(stage.name), memory],
      [stage.name, this.d.consumer, idle, this.cursor, stage.batchSize, fenceToken(), 'JUSTID', stage.consumerIdleRemoveMs],
    );
    this.hold.wrote();
    if (holding) return;
    this.cursor = reply[0].toString();
    const deleted = reply[2] ?? [];
    if (deleted.length > 0) {
      // Pending entries whose data was trimmed away: XAUTOCLAIM has dropped them from the PEL.
      metrics.increment('reclaim.deleted', deleted.length, this.tags);
      logger.error('reclaim.entries_deleted', { ids: deleted.map(String) });
    }
    const ids = reply[1].map(String);
    if (ids.length === 0) return;
    this.reclaimed += ids.length;
    metrics.increment('messages.reclaimed', ids.length, this.tags);
    logger.info('reclaim.claimed', { count: ids.length, first: ids[0], ids });
    // Each one's delivery count is read when it runs (take-claimed-1.lua), not here.
    this.consumer.enqueueClaimed(ids);
  }

  /**
   * Remove consumers idle past `consumerIdleRemoveMs` that own no pending entry (a dead process's
   * consumer, once its entries were reclaimed). The check and the delete are one script, so a
   * consumer that reads in between is never removed with entries.
   */
  private async removeGoneConsumers(): Promise<void> {
    const { stage, metrics, logger } = this.d;
    const source = this.consumer.source;
    const consumers = (await this.redis.xinfo('CONSUMERS', source, stage.name)) as unknown[][];
    for (const c of consumers) {
      const info = new Map<string, unknown>();
      for (let i = 0; i + 1 < c.length; i += 2) info.set(String(c[i]), c[i + 1]);
      const name = String(info.get('name'));
      if (name === this.d.consumer || Number(info.get('pending')) > 0 || Number(info.get('idle')) < stage.consumerIdleRemoveMs) continue;
      const removed = await deleteIdleConsumer.run<number>(this.redis, [source], [stage.name, name, stage.consumerIdleRemoveMs]);
      if (removed !== 1) continue;
      this.removedConsumers++;
      metrics.increment('consumers.removed', 1, this.tags);
      logger.info('reclaim.consumer_removed', { removed: name, idleMs: Number(info.get('idle')) });
    }
  }

  private async trim(): Promise<void> {
    if (!this.d.config.streams.trimAcked) return;
    const { removed } = await trimAcked(this.redis, this.consumer.source);
    if (removed > 0) this.d.metrics.increment('stream.trimmed', removed, this.tags);
  }
}
