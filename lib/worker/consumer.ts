import { createGroup } from '../stream/consumer-group.js';
import type { Redis } from 'ioredis';
import type { Message } from '../stream/codec.js';
import type { ResolvedConfig, ResolvedStage } from '../config/types.js';
import type { RawEntry } from '../stream/entries.js';
import { takeClaimed } from './take-claimed.js';
import { Forwarder, type FusedStage } from '../stream/forwarder.js';
import { resolveFused, runFusedBatch } from './fusion.js';
import { GroupReader } from '../stream/group-reader.js';
import { RouteError } from '../core/errors.js';
import { onBatchFailure } from './batch-failure.js';
import { movingFence, type Forward } from '../stream/handoff.js';
import { CommitWait, commitBatch, consumerHandOffSource, decodeBatch, recordRetryCounts, type BatchCommitTarget } from './batch-commit.js';
import type { Logger } from '../observe/logger.js';
import type { Metrics } from '../observe/metrics.js';
import type { Connections } from '../redis/connections.js';
import type { Keys } from '../redis/keys.js';
import type { Router } from '../stream/router.js';
import type { Stage } from './stage.js';
import { StageRunner, type DependencyWait } from './stage-runner.js';
import { RetryQueue, type Queued } from '../stream/retry-queue.js';
import { consumerWatchdog, type Phase, type Watchdog } from './watchdog.js';
import { leaveGroup } from './leave-group.js';
import { LoopErrors, type LoopErrorDeps } from './loop-error.js';
import { PermissionNotice } from './permission-notice.js';
import { urlUser } from '../redis/noperm.js';
import type { DataLossWatch } from './data-loss-watch.js';
import { PauseGate } from './pause-gate.js';
import { RateGate } from './rate-gate.js';
import { drainInflightRead } from './drain-read.js';
import type { PauseRecord } from '../stream/pause-flag.js';
import { RevokeList } from '../stream/revokes.js';

export interface ConsumerDeps {
  config: ResolvedConfig;
  stage: ResolvedStage;
  impl: Stage;
  /** Undefined for sinks. */
  router?: Router;
  connections: Connections;
  keys: Keys;
  /** This reader's consumer name in the group (host-pid-n). */
  consumer: string;
  logger: Logger;
  metrics: Metrics;
  /** File the watchdog rewrites while the loop makes progress (exec liveness probes). @defaultValue env PROGRESS_FILE, else none */
  progressFile?: string;
  /** Told when the group vanished (NOGROUP): Redis lost data (lib/worker/data-loss-watch.ts). @defaultValue none */
  dataLoss?: Pick<DataLossWatch, 'groupVanished'>;
}

/**
 * One stage consumer: reads batches with XREADGROUP, runs the stage on the whole batch, and hands
 * each result to its target stream(s) while acking the input, atomically (handoff-N.lua).
 * After a full, quick batch the next read is already in flight while this one is handed off.
 * Failed messages are retried with backoff in-process and dead-lettered after `maxDeliveries`;
 * entries reclaimed from dead consumers come in through `enqueue` and take the same path.
 * A watchdog (watchdog.ts) checks that the loop makes progress and publishes it for probes.
 */
export class StreamConsumer implements FusedStage {
  readonly source: string;
  private readonly group: string;
  private readonly queue = new RetryQueue();
  /** Ids of the batch being processed (a reclaim of our own entries must not queue them twice). */
  private readonly active = new Set<string>();
  private running?: Promise<void>;
  private abandon?: () => void;
  private stopping = false;
  private stopped?: Promise<void>;
  private readonly reader: GroupReader;
  /** Where and how batches are committed (lib/worker/batch-commit.ts). */
  private readonly commitTarget: BatchCommitTarget;
  /** The claim fence as the last hand-off saw it ("" before the first): a batch read under a value still current at hand-off is acked with one XACK (handoff-N.lua). */
  private fence = '';
  private readonly forwarder: Forwarder;
  readonly watchdog: Watchdog;
  private readonly runner: StageRunner;
  private readonly commitWait = new CommitWait(() => this.progress());
  /** Last time a read returned (even empty) or a batch was handed off: progress, not just liveness. */
  lastProgressAt = Date.now();
  /** How long the last batch took from read to hand-off (read-ahead decisions); none yet = slow. */
  private lastBatchMs = Infinity;
  phase: Phase = 'idle';
  processed = 0;
  /** This consumer's Redis permission refusals, said once each; what it waits for is on its liveness record (`waiting`). */
  readonly permissions: PermissionNotice;
  private readonly loopErrorDeps: LoopErrorDeps;
  /** The stage's paused flag, read between batches (lib/worker/pause-gate.ts). */
  private readonly pause: PauseGate;
  /** The stage's `rateLimit`: how many records the next batch may hold (lib/worker/rate-gate.ts). */
  private readonly rate: RateGate;
  /** Revoked ids (`pipeline revoke`), read by the pause gate: a revoked record is acked unprocessed. */
  private readonly revokes: RevokeList;

  constructor(private readonly d: ConsumerDeps) {
    this.source = d.keys.stream(d.stage.input);
    this.group = d.stage.name;
    this.permissions = new PermissionNotice({ user: urlUser(d.stage.redisUrl), redis: () => this.redis, logger: d.logger });
    const progress = () => this.progress();
    this.loopErrorDeps = { ...d, source: this.source, tags: this.tags, permissions: this.permissions, progress, ensureGroup: () => this.ensureGroup() };
    this.runner = new StageRunner({
      ...d,
      redis: () => this.redis,
      source: this.source,
      group: this.group,
      tags: this.tags,
      stopping: () => this.stopping,
      progress,
      permissions: this.permissions,
    });
    this.revokes = new RevokeList(d.keys, d.config.limits.revokeTtlMs);
    this.pause = new PauseGate({ ...d, redis: () => this.redis, progress, stopping: () => this.stopping, revokes: this.revokes });
    this.rate = new RateGate({ ...d, redis: () => this.redis, progress, stopping: () => this.stopping });
    this.watchdog = consumerWatchdog(this, d);
    this.forwarder = new Forwarder({ ...d, readsInput: d.stage.input === d.config.input });
    this.commitTarget = {
      stage: d.stage.name,
      keys: d.keys,
      forwarder: this.forwarder,
      source: consumerHandOffSource(d.keys, d.stage, this.source, this.group, d.consumer),
      terminalKeys: new Map(d.config.streams.terminal.map((t) => [d.keys.stream(t), t])),
      completions: { maxLen: d.config.limits.doneMaxLen, statusTtlMs: d.config.limits.statusTtlMs },
    };
    this.reader = new GroupReader({
      connection: () => d.connections.reader('read'),
      source: this.source,
      group: this.group,
      consumer: d.consumer,
      batchSize: d.stage.batchSize,
      fence: () => this.fence,
      connGeneration: () => d.connections.troubles,
    });
  }

  private get redis(): Redis {
    return this.d.connections.command();
  }

  private get tags() {
    return { stage: this.d.stage.name };
  }

  /** Run the stages `lookup` gives (by their stream key) fused after this one (lib/worker/fusion.ts). */
  fuseInto(lookup: (key: string) => FusedStage | undefined): void {
    this.forwarder.fuseInto(lookup);
  }

  /** FusedStage: this stage on messages another stage of the process routed here alone. */
  async runFused(messages: Message[]): Promise<(Forward | undefined)[]> {
    const out = await runFusedBatch({ ...this.d, runner: this.runner, forwarder: this.forwarder, tags: this.tags, revokes: this.revokes }, messages);
    this.processed += out.filter((f) => f !== undefined).length;
    return out;
  }

  /** The stage's group, from the start of the stream; an existing group is fine. */
  async ensureGroup(): Promise<void> {
    await createGroup(this.redis, this.source, this.group);
  }

  /** Start the read loop and its watchdog; a second call is refused. Resolves when the loop ends after stop(), or when stop() gave up waiting for it (`drainTimeoutMs`). */
  run(): Promise<void> {
    if (this.running) throw new Error(`consumer ${this.d.consumer} is already running`);
    this.running = this.loop();
    this.watchdog.start();
    const abandoned = new Promise<void>((res) => (this.abandon = res));
    return Promise.race([this.running, abandoned]);
  }

  /** Entries claimed from others without their data or a delivery counted: each runs by itself, before the next read, its delivery counted then (take-claimed.ts). */
  enqueueClaimed(ids: readonly string[]): void {
    // attempt 0: not known until take-claimed-1.lua counts the delivery it is about to make.
    for (const id of ids) if (!this.active.has(id)) this.queue.add({ entry: { id, fields: [] }, attempt: 0, dueAt: 0, alone: true });
    this.reader.wakeUp();
  }

  /** How many entries wait in the local queue (retries and reclaimed). */
  get queued(): number {
    return this.queue.size;
  }

  /** The stage's paused flag as this consumer last read it (its reclaimer claims nothing meanwhile; the liveness record's `paused`). */
  get paused(): PauseRecord | undefined {
    return this.pause.paused;
  }

  /** The paused flag read now unless the last read is fresher than `pausePollMs` (the reclaimer, before each pass). */
  pausedNow(): Promise<PauseRecord | undefined> {
    return this.pause.current();
  }

  /** Ids this consumer holds in memory, queued or read ahead (kept claimed while a batch runs). */
  heldIds(): string[] {
    return [...this.queue.ids(), ...this.reader.deliveredIds()];
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  /** Stop reading, finish and hand off the batch in flight, then resolve (memoised). Entries unfinished within `drainTimeoutMs` (and queued retries) stay pending, reclaimed by others. */
  stop(): Promise<void> {
    this.stopped ??= this.drainThenStop();
    return this.stopped;
  }

  private async drainThenStop(): Promise<void> {
    this.stopping = true;
    this.reader.wakeUp();
    this.pause.wakeUp();
    this.rate.wakeUp();
    let clean = false;
    if (this.running) {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), this.d.stage.drainTimeoutMs)));
      const outcome = await Promise.race([this.running.then(() => 'done' as const), deadline]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        this.d.metrics.increment('consumer.drain_timeouts', 1, this.tags);
        this.d.logger.warn('consumer.drain_timeout', { drainTimeoutMs: this.d.stage.drainTimeoutMs, left: this.active.size + this.queue.size });
        this.abandon?.(); // run() resolves: the process may exit, what is unfinished stays pending
      } else clean = true; // all handed off: leave the group (leave-group.ts) so status counts live workers
    }
    await Promise.all([this.watchdog.stop(), clean && leaveGroup(this.d, this.redis, this.source, this.group, this.watchdog.stopTimeoutMs)]);
  }

  /** What the batch in flight waits for while it waits out a dependency outage, since when (readiness fails past the stall limit): the liveness record's `outage`. */
  get outage(): DependencyWait | undefined {
    return this.runner.outage ?? this.commitWait.current;
  }

  /** Since when the oldest stage call abandoned at `stageTimeoutMs` has been hanging (the watchdog reports it). */
  get stuckSince(): number | undefined {
    return this.runner.stuckSince;
  }

  private progress(): void {
    this.lastProgressAt = Date.now();
  }

  private async loop(): Promise<void> {
    // Loop errors in a row: the backoff doubles with them, the log level rises past stallTimeoutMs (lib/worker/loop-error.ts).
    const errors = new LoopErrors(this.loopErrorDeps);
    while (!this.stopping) {
      try {
        if (await this.pause.hold()) continue; // paused (`pipeline pause`): nothing read, retried or run
        const may = await this.rate.take(); // `rateLimit`: how many this batch may hold; 0: it waited
        if (may === 0) continue;
        // Retries and reclaimed entries were read before any fence value this consumer knows: checked hand-off.
        let due = this.queue.takeDue(may);
        if (due.length === 1 && due[0]!.alone) due = await takeClaimed(this.redis, this.source, this.group, this.d.consumer, due[0]!, this.d.logger);
        const { batch, fence, connGeneration } = due.length > 0 ? { batch: due, fence: '', connGeneration: 0 } : await this.read(may);
        this.rate.giveBack(this.reader.reading ? 0 : may - batch.length); // a read still in flight keeps its tokens
        this.progress();
        if (batch.length > 0) await this.processBatch(batch, fence, connGeneration);
        errors.clear();
        this.permissions.clear('loop');
      } catch (err) {
        // Never let the loop die: entries read but not handed off stay pending in the group and come back through the reclaimer.
        await errors.after(err);
      } finally {
        this.phase = 'idle';
      }
    }
    await drainInflightRead(
      this.reader,
      () => !!this.pause.paused,
      (b, f, g) => this.processBatch(b, f, g),
      this.d.logger,
    );
  }

  /** Block for new entries, but not past the next queued retry; [] when woken (reclaimed entries, stop). */
  private async read(count: number): Promise<{ batch: Queued[]; fence: string; connGeneration: number }> {
    const { stage } = this.d;
    this.phase = 'reading';
    let entries: RawEntry[];
    let fence: string;
    let connGeneration: number;
    try {
      ({ entries, fence, connGeneration } = await this.reader.next(this.queue.blockFor(stage.blockMs), count));
    } finally {
      this.phase = 'idle';
    }
    // Read ahead: a full batch means more is waiting, so fetch the next one on the reader
    // connection while this one is processed and handed off (stop() drains it like any read).
    // Only for stages whose batches are quick: a slow stage would hold a second batch pending
    // that another worker could be running. Nor under a `rateLimit`: each read takes its tokens first.
    if (entries.length === stage.batchSize && this.lastBatchMs < stage.readAheadMs && !this.stopping && !stage.rateLimit)
      this.reader.start(this.queue.blockFor(stage.blockMs));
    return { batch: entries.map((entry) => ({ entry, attempt: 1, dueAt: 0 })), fence, connGeneration };
  }

  /**
   * `fence`: the claim fence value seen before the batch was read ("" = unknown, check each message). `connGeneration`: Connections.troubles then.
   * A connection that failed since may have lost the read itself with a failed-over master (another consumer then got the entries fresh,
   * with no claim to move the fence): such a batch is checked message by message, never acked on the fence alone.
   */
  private async processBatch(batch: Queued[], fence: string, connGeneration: number): Promise<void> {
    const { stage, metrics, logger } = this.d;
    const started = Date.now();
    const { forwards, messages, live } = decodeBatch(batch, this.forwarder, stage.maxDeliveries, this.revokes);
    metrics.histogram('batch.size', messages.length, this.tags);
    metrics.increment('messages.in', messages.length, this.tags);
    for (const q of batch) this.active.add(q.entry.id);
    try {
      this.phase = 'processing';
      const results = messages.length > 0 ? await this.runner.run(messages, () => this.heldIds()) : [];
      const doneAt = Date.now();
      const retries: Queued[] = [];
      const routed = new Map<string, number>();
      results.forEach((res, i) => {
        const q = live[i]!;
        const msg = messages[i]!;
        if (!res.ok) return this.onFailure(q, msg, res.error, forwards, retries);
        try {
          forwards.push(this.forwarder.forward(msg, res.output, started, doneAt, messages.length, routed));
        } catch (err) {
          if (err instanceof RouteError) forwards.push(this.forwarder.deadLetter(q.entry, { reason: 'no_route', error: err.message, deliveries: q.attempt }));
          else this.onFailure(q, msg, err instanceof Error ? err : new Error(String(err)), forwards, retries); // e.g. the envelope cannot be encoded
        }
      });
      for (const [route, n] of routed) this.d.metrics.increment('messages.routed', n, { ...this.tags, route });
      const hold = (ids: string[], work: () => Promise<void>) => this.runner.holding(ids, () => this.heldIds(), work);
      const owner = (id: string) => live.find((q) => q.entry.id === id)!;
      const fail = (id: string, msg: Message, err: Error) => this.onFailure(owner(id), msg, err, forwards, retries);
      await resolveFused(forwards, hold, fail);
      this.phase = 'committing';
      const { retryBaseMs, retryMaxMs } = stage;
      // A hand-off this user may not make waits in place like one Redis refuses when full (never acked unforwarded, never a record's fault).
      const onRefused = (err: unknown) => (this.permissions.report('loop', err), this.progress());
      const commit = { retryBaseMs, retryMaxMs, logger, metrics, tags: this.tags, stopping: () => this.stopping, onRefused, onRetry: this.commitWait.retried };
      // A read that may have been lost is checked, and moves the fence if it acks anything (handoff-N.lua).
      const sure = connGeneration === this.d.connections.troubles ? fence : movingFence();
      const done = await this.commitWait.during(() => commitBatch(this.redis, this.commitTarget, batch, forwards, sure, commit));
      this.processed += done.fresh;
      if (done.fence !== undefined) this.fence = done.fence; // keep what was seen when nothing was sent
      await recordRetryCounts(this.redis, this.commitTarget.source, this.d.consumer, retries, { ...this.d, tags: this.tags });
    } finally {
      this.active.clear();
    }
    this.progress();
    this.lastBatchMs = Date.now() - started;
    metrics.timing('batch.total_ms', this.lastBatchMs, this.tags);
  }

  private onFailure(q: Queued, msg: Message, error: Error, forwards: Forward[], retries: Queued[]): void {
    onBatchFailure({ ...this.d, tags: this.tags, forwarder: this.forwarder, queue: this.queue }, q, msg, error, forwards, retries);
  }
}
