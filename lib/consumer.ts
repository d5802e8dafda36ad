import type { Redis } from 'ioredis';
import { decodeEnvelope, encodeEnvelope, entryFields, FIELD_ENVELOPE, FIELD_KEY, type Message } from './codec.js';
import type { ResolvedConfig, ResolvedStage } from './config/types.js';
import { deadLetterForward, type DeadLetter } from './deadletter.js';
import { readGroupEntries, type RawEntry } from './entries.js';
import { DecodeError, errorMessage, isPermanent, isTransient, isTransientRedisError, RouteError } from './errors.js';
import { commitHandOff, type Forward } from './handoff.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import { backoffMs, sleep } from './backoff.js';
import type { Connections } from './redis/connections.js';
import type { Keys } from './redis/keys.js';
import type { Router } from './router.js';
import type { Stage } from './stage.js';
import { StageRunner } from './stage-runner.js';
import { RetryQueue, type Queued } from './retry-queue.js';
import { consumerWatchdog, type Phase, type Watchdog } from './watchdog.js';

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
}

const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));

/**
 * One stage consumer: reads batches with XREADGROUP, runs the stage on the whole batch, and hands
 * each result to its target stream(s) while acking the input, atomically (handoff-N.lua).
 * Failed messages are retried with backoff in-process and dead-lettered after `maxDeliveries`;
 * entries reclaimed from dead consumers come in through `enqueue` and take the same path.
 * A watchdog (watchdog.ts) checks that the loop makes progress and publishes it for probes.
 */
export class StreamConsumer {
  readonly source: string;
  private readonly group: string;
  private readonly queue = new RetryQueue();
  /** Ids of the batch being processed (a reclaim of our own entries must not queue them twice). */
  private readonly active = new Set<string>();
  private running?: Promise<void>;
  private abandon?: () => void;
  private stopping = false;
  private wake?: () => void;
  private inflight?: Promise<RawEntry[]>;
  readonly watchdog: Watchdog;
  private readonly runner: StageRunner;
  /** Last time a read returned (even empty) or a batch was handed off: progress, not just liveness. */
  lastProgressAt = Date.now();
  phase: Phase = 'idle';
  processed = 0;

  constructor(private readonly d: ConsumerDeps) {
    this.source = d.keys.stream(d.stage.input);
    this.group = d.stage.name;
    this.runner = new StageRunner({
      ...d,
      redis: () => this.redis,
      source: this.source,
      group: this.group,
      tags: this.tags,
      stopping: () => this.stopping,
      progress: () => this.progress(),
    });
    this.watchdog = consumerWatchdog(this, d);
  }

  private get redis(): Redis {
    return this.d.connections.command();
  }

  private get tags() {
    return { stage: this.d.stage.name };
  }

  /** XGROUP CREATE ... MKSTREAM from the start of the stream; an existing group is fine. */
  async ensureGroup(): Promise<void> {
    try {
      await this.redis.xgroup('CREATE', this.source, this.group, '0', 'MKSTREAM');
    } catch (err) {
      if (!errorMessage(err).includes('BUSYGROUP')) throw err;
    }
  }

  /**
   * Start the read loop and its watchdog; a second call is refused. Resolves when the loop ends
   * after stop(), or when stop() gave up waiting for it (`drainTimeoutMs`).
   */
  run(): Promise<void> {
    if (this.running) throw new Error(`consumer ${this.d.consumer} is already running`);
    this.running = this.loop();
    this.watchdog.start();
    const abandoned = new Promise<void>((res) => (this.abandon = res));
    return Promise.race([this.running, abandoned]);
  }

  /** Entries this consumer now owns (claimed from others): processed before the next read. */
  enqueue(entries: RawEntry[], deliveries: Map<string, number>): void {
    for (const entry of entries) {
      if (!this.active.has(entry.id)) this.queue.add({ entry, attempt: deliveries.get(entry.id) ?? 1, dueAt: 0 });
    }
    this.wake?.();
  }

  /** How many entries wait in the local queue (retries and reclaimed). */
  get queued(): number {
    return this.queue.size;
  }

  /** Ids this consumer holds in memory (for the heartbeat). */
  heldIds(): string[] {
    return this.queue.ids();
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  /**
   * Stop reading, finish and hand off the batch in flight, then resolve. Entries that cannot be
   * finished within `drainTimeoutMs` (and queued retries) stay pending and are reclaimed by others.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    if (this.running) {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), this.d.stage.drainTimeoutMs)));
      const outcome = await Promise.race([this.running.then(() => 'done' as const), deadline]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        this.d.metrics.increment('consumer.drain_timeouts', 1, this.tags);
        this.d.logger.warn('consumer.drain_timeout', { drainTimeoutMs: this.d.stage.drainTimeoutMs, left: this.active.size + this.queue.size });
        this.abandon?.(); // run() resolves: the process may exit, what is unfinished stays pending
      }
    }
    await this.watchdog.stop();
  }

  private progress(): void {
    this.lastProgressAt = Date.now();
  }

  private async loop(): Promise<void> {
    const { logger, metrics } = this.d;
    while (!this.stopping) {
      try {
        const due = this.queue.takeDue(this.d.stage.batchSize);
        const batch = due.length > 0 ? due : await this.read();
        this.progress();
        if (batch.length > 0) await this.processBatch(batch);
      } catch (err) {
        // Never let the loop die: log, count, back off, go on. Entries read but not handed off stay
        // pending in the group and come back through the reclaimer.
        metrics.increment('consumer.loop_errors', 1, this.tags);
        logger.error('consumer.loop_error', { err, transient: isTransientRedisError(err) });
        await sleep(backoffMs(1, this.d.stage.retryBaseMs, this.d.stage.retryMaxMs));
        if (errorMessage(err).includes('NOGROUP')) await this.recreateGroup();
      } finally {
        this.phase = 'idle';
      }
    }
    await this.drainInflightRead();
  }

  /** The group vanished (Redis restarted without persistence, or someone deleted it): create it again. */
  private async recreateGroup(): Promise<void> {
    try {
      await this.ensureGroup();
      this.d.logger.warn('consumer.group_recreated', { stream: this.source });
    } catch (err) {
      this.d.logger.error('consumer.group_recreate_error', { err });
    }
  }

  /** A read still blocked at stop may deliver entries: process them rather than leave them for reclaim. */
  private async drainInflightRead(): Promise<void> {
    if (!this.inflight) return;
    try {
      const last = await this.inflight;
      this.inflight = undefined;
      if (last.length > 0) await this.processBatch(last.map((entry) => ({ entry, attempt: 1, dueAt: 0 })));
    } catch (err) {
      this.d.logger.warn('consumer.drain_read_error', { err });
    }
  }

  /**
   * Block for new entries, but not past the next queued retry. A wake-up (reclaimed entries, stop)
   * returns early without cancelling the read: its reply is kept and taken by the next call, so
   * entries delivered to this consumer are never dropped on the floor.
   */
  private async read(): Promise<Queued[]> {
    const { stage } = this.d;
    if (!this.inflight) {
      const block = this.queue.blockFor(stage.blockMs);
      const reader = this.d.connections.reader('read');
      this.inflight = reader
        .callBuffer('XREADGROUP', 'GROUP', this.group, this.d.consumer, 'COUNT', stage.batchSize, 'BLOCK', block, 'STREAMS', this.source, '>')
        .then(readGroupEntries);
    }
    const read = this.inflight;
    const woken = new Promise<null>((res) => (this.wake = () => res(null)));
    let entries: RawEntry[] | null | undefined;
    this.phase = 'reading';
    try {
      entries = await Promise.race([read, woken]);
    } catch (err) {
      this.inflight = undefined; // a failed read is retried by the loop with a fresh command
      throw err;
    } finally {
      this.wake = undefined;
      this.phase = 'idle';
    }
    if (!entries) return [];
    this.inflight = undefined;
    return entries.map((entry) => ({ entry, attempt: 1, dueAt: 0 }));
  }

  private async processBatch(batch: Queued[]): Promise<void> {
    const { stage, metrics } = this.d;
    const started = Date.now();
    const forwards: Forward[] = [];
    const messages: Message[] = [];
    const live: Queued[] = [];
    for (const q of batch) {
      if (q.attempt > stage.maxDeliveries) {
        forwards.push(this.deadLetter(q, { reason: 'max_deliveries', error: `delivered ${q.attempt} times`, deliveries: q.attempt }));
        continue;
      }
      try {
        messages.push(this.decode(q.entry));
        live.push(q);
      } catch (err) {
        forwards.push(this.deadLetter(q, { reason: 'undecodable', error: errorMessage(err), deliveries: q.attempt }));
      }
    }
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
          forwards.push(this.forward(msg, res.output, q, started, doneAt, messages.length, routed));
        } catch (err) {
          if (err instanceof RouteError) forwards.push(this.deadLetter(q, { reason: 'no_route', error: err.message, deliveries: q.attempt }));
          else this.onFailure(q, msg, asError(err), forwards, retries); // e.g. the envelope cannot be encoded
        }
      });
      for (const [route, n] of routed) this.d.metrics.increment('messages.routed', n, { ...this.tags, route });
      this.phase = 'committing';
      const { retryBaseMs, retryMaxMs } = stage;
      const { logger, metrics } = this.d;
      const commit = { retryBaseMs, retryMaxMs, logger, metrics, tags: this.tags, stopping: () => this.stopping };
      this.processed += await commitHandOff(this.redis, this.source, this.group, forwards, commit);
      await this.recordRetries(retries);
    } finally {
      this.active.clear();
    }
    this.progress();
    metrics.timing('batch.total_ms', Date.now() - started, this.tags);
  }

  private onFailure(q: Queued, msg: Message, error: Error, forwards: Forward[], retries: Queued[]): void {
    const { stage, metrics, logger } = this.d;
    metrics.increment('messages.errors', 1, this.tags);
    const permanent = isPermanent(error);
    // A TransientError (dependency outage) is never this message's fault: it does not count a delivery.
    const transient = isTransient(error) && !permanent;
    if (!transient && (permanent || q.attempt >= stage.maxDeliveries)) {
      const reason = permanent ? 'permanent_error' : 'max_deliveries';
      forwards.push(this.deadLetter(q, { reason, error: error.message, deliveries: q.attempt }));
      return;
    }
    const delay = backoffMs(q.attempt, stage.retryBaseMs, stage.retryMaxMs);
    logger.warn('message.retry', { id: q.entry.id, key: msg.envelope.key, attempt: q.attempt, delayMs: delay, err: error });
    metrics.increment('messages.retries', 1, this.tags);
    const next = { entry: q.entry, attempt: transient ? q.attempt : q.attempt + 1, dueAt: Date.now() + delay };
    this.queue.set(next);
    retries.push(next);
  }

  /**
   * Write each retried entry's attempt number into the group (XCLAIM RETRYCOUNT, which also resets
   * its idle time): should this process die before the retry, the reclaimer sees the true count
   * and `maxDeliveries` still holds across crashes.
   */
  private async recordRetries(retries: Queued[]): Promise<void> {
    await Promise.all(
      retries.map((q) =>
        this.redis.xclaim(this.source, this.group, this.d.consumer, 0, q.entry.id, 'RETRYCOUNT', q.attempt, 'JUSTID').catch((err: unknown) => {
          this.d.metrics.increment('heartbeat.errors', 1, this.tags);
          this.d.logger.warn('consumer.retrycount_error', { id: q.entry.id, err });
        }),
      ),
    );
  }

  private decode(entry: RawEntry): Message {
    const { key, payload } = entryFields(entry.fields);
    if (!payload) throw new DecodeError(`entry ${entry.id} has no '${FIELD_ENVELOPE}' field`);
    const envelope = decodeEnvelope(payload);
    if (key !== undefined && key !== envelope.key) throw new DecodeError(`entry key ${key} does not match envelope key ${envelope.key}`);
    return { id: entry.id, stream: this.d.stage.input, envelope };
  }

  /**
   * Stream keys and metric label of each rule's target list, computed once: the router returns
   * the same array for every match of a rule, so this is a lookup per message, not string work.
   */
  private readonly targetKeys = new WeakMap<readonly string[], { keys: string[]; route: string }>();

  /** Add this stage's output and hop to the envelope, pick the targets, tally the route. */
  private forward(msg: Message, output: Record<string, unknown>, q: Queued, readAt: number, doneAt: number, batch: number, routed: Map<string, number>): Forward {
    const { stage, router, keys, metrics } = this.d;
    const env = msg.envelope;
    env.outputs[stage.name] = output;
    env.hops.push({ stage: stage.name, consumer: this.d.consumer, readAt, doneAt, batch });
    if (!router) {
      metrics.timing('message.e2e_ms', doneAt - env.producedAt, this.tags);
      return { id: q.entry.id, targets: [], fields: [] };
    }
    const { targets } = router.route(output);
    let t = this.targetKeys.get(targets);
    if (!t) this.targetKeys.set(targets, (t = { keys: targets.map((x) => keys.stream(x)), route: targets.join('+') }));
    routed.set(t.route, (routed.get(t.route) ?? 0) + 1);
    return { id: q.entry.id, targets: t.keys, fields: [FIELD_KEY, env.key, FIELD_ENVELOPE, encodeEnvelope(env)] };
  }

  private deadLetter(q: Queued, dl: DeadLetter): Forward {
    this.d.metrics.increment('messages.dead_lettered', 1, { ...this.tags, reason: dl.reason });
    this.d.logger.warn('message.dead_letter', { id: q.entry.id, reason: dl.reason, error: dl.error, deliveries: dl.deliveries });
    return deadLetterForward(q.entry, this.d.stage.name, this.d.stage.input, this.d.keys.dlq, dl);
  }
}
