import type { Redis } from 'ioredis';
import { decodeEnvelope, encodeEnvelope, entryFields, FIELD_ENVELOPE, FIELD_KEY, type Message } from './codec.js';
import type { ResolvedConfig, ResolvedStage } from './config/types.js';
import { deadLetterForward, type DeadLetter } from './deadletter.js';
import { readGroupEntries, type RawEntry } from './entries.js';
import { DecodeError, errorMessage, isPermanent, isTransientRedisError, RouteError } from './errors.js';
import { handOff, type Forward } from './handoff.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import { backoffMs, sleep } from './backoff.js';
import type { Connections } from './redis/connections.js';
import type { Keys } from './redis/keys.js';
import type { Router } from './router.js';
import type { Stage, StageResult } from './stage.js';

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
}

/** An entry waiting to be (re)processed by this consumer, with how often it was tried. */
interface Queued {
  entry: RawEntry;
  /** Deliveries so far, counting this one. */
  attempt: number;
  dueAt: number;
}

/**
 * One stage consumer: reads batches with XREADGROUP, runs the stage on the whole batch, and hands
 * each result to its target stream(s) while acking the input, atomically (handoff-N.lua).
 * Failed messages are retried with backoff in-process and dead-lettered after `maxDeliveries`;
 * entries reclaimed from dead consumers come in through `enqueue` and take the same path.
 */
export class StreamConsumer {
  readonly source: string;
  private readonly group: string;
  private readonly queue = new Map<string, Queued>();
  private running?: Promise<void>;
  private stopping = false;
  private wake?: () => void;
  private inflight?: Promise<RawEntry[]>;
  /** Last time the read loop completed an iteration: progress, not just liveness. */
  lastProgressAt = Date.now();
  processed = 0;

  constructor(private readonly d: ConsumerDeps) {
    this.source = d.keys.stream(d.stage.input);
    this.group = d.stage.name;
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

  /** Start the read loop; a second call is refused. Resolves when the loop ends (after stop()). */
  run(): Promise<void> {
    if (this.running) throw new Error(`consumer ${this.d.consumer} is already running`);
    this.running = this.loop();
    return this.running;
  }

  /** Entries this consumer now owns (claimed from others): processed before the next read. */
  enqueue(entries: RawEntry[], deliveries: Map<string, number>): void {
    for (const entry of entries) {
      if (!this.queue.has(entry.id)) this.queue.set(entry.id, { entry, attempt: deliveries.get(entry.id) ?? 1, dueAt: 0 });
    }
    this.wake?.();
  }

  /** How many entries wait in the local queue (retries and reclaimed). */
  get queued(): number {
    return this.queue.size;
  }

  /** Ids this consumer holds in memory (for the heartbeat). */
  heldIds(): string[] {
    return [...this.queue.keys()];
  }

  /**
   * Stop reading, finish and hand off the batch in flight, then resolve. Entries that cannot be
   * finished within `drainTimeoutMs` (and queued retries) stay pending and are reclaimed by others.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    if (!this.running) return;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), this.d.stage.drainTimeoutMs)));
    const outcome = await Promise.race([this.running.then(() => 'done' as const), deadline]);
    clearTimeout(timer);
    if (outcome === 'timeout') this.d.logger.warn('consumer.drain_timeout', { drainTimeoutMs: this.d.stage.drainTimeoutMs });
  }

  private async loop(): Promise<void> {
    const { logger, metrics } = this.d;
    while (!this.stopping) {
      try {
        const due = this.takeDue();
        const batch = due.length > 0 ? due : await this.read();
        this.lastProgressAt = Date.now();
        if (batch.length > 0) await this.processBatch(batch);
      } catch (err) {
        // Never let the loop die: log, count, back off, go on. Entries read but not handed off stay
        // pending in the group and come back through the reclaimer.
        metrics.increment('consumer.loop_errors', 1, this.tags);
        logger.error('consumer.loop_error', { err, transient: isTransientRedisError(err) });
        await sleep(backoffMs(1, this.d.stage.retryBaseMs, this.d.stage.retryMaxMs));
      }
    }
    await this.drainInflightRead();
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

  /** Queued entries whose retry time has come, up to one batch. */
  private takeDue(): Queued[] {
    const now = Date.now();
    const due: Queued[] = [];
    for (const q of this.queue.values()) {
      if (q.dueAt <= now) due.push(q);
      if (due.length >= this.d.stage.batchSize) break;
    }
    for (const q of due) this.queue.delete(q.entry.id);
    return due;
  }

  /**
   * Block for new entries, but not past the next queued retry. A wake-up (reclaimed entries, stop)
   * returns early without cancelling the read: its reply is kept and taken by the next call, so
   * entries delivered to this consumer are never dropped on the floor.
   */
  private async read(): Promise<Queued[]> {
    const { stage } = this.d;
    if (!this.inflight) {
      let block = stage.blockMs;
      for (const q of this.queue.values()) block = Math.min(block, Math.max(1, q.dueAt - Date.now()));
      const reader = this.d.connections.reader('read');
      this.inflight = reader
        .callBuffer('XREADGROUP', 'GROUP', this.group, this.d.consumer, 'COUNT', stage.batchSize, 'BLOCK', block, 'STREAMS', this.source, '>')
        .then(readGroupEntries);
    }
    const read = this.inflight;
    const woken = new Promise<null>((res) => (this.wake = () => res(null)));
    let entries: RawEntry[] | null | undefined;
    try {
      entries = await Promise.race([read, woken]);
    } catch (err) {
      this.inflight = undefined; // a failed read is retried by the loop with a fresh command
      throw err;
    } finally {
      this.wake = undefined;
    }
    if (!entries) return [];
    this.inflight = undefined;
    return entries.map((entry) => ({ entry, attempt: 1, dueAt: 0 }));
  }

  private async processBatch(batch: Queued[]): Promise<void> {
    const { stage, impl, metrics, logger } = this.d;
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

    let results: StageResult[] = [];
    if (messages.length > 0) {
      const heartbeat = this.heartbeat(live.map((q) => q.entry.id));
      const modelStart = Date.now();
      try {
        results = await impl.process(messages);
        if (results.length !== messages.length) throw new Error(`stage returned ${results.length} results for ${messages.length} messages`);
      } catch (err) {
        // The whole batch failed (e.g. the model threw): every message gets the error and retries.
        logger.error('stage.batch_error', { err, batch: messages.length });
        metrics.increment('batch.errors', 1, this.tags);
        results = messages.map(() => ({ ok: false, error: err instanceof Error ? err : new Error(String(err)) }));
      } finally {
        clearInterval(heartbeat);
      }
      metrics.timing('batch.process_ms', Date.now() - modelStart, this.tags);
    }

    const doneAt = Date.now();
    results.forEach((res, i) => {
      const q = live[i]!;
      const msg = messages[i]!;
      if (res.ok) {
        try {
          forwards.push(this.forward(msg, res.output, q, started, doneAt, messages.length));
          return;
        } catch (err) {
          if (!(err instanceof RouteError)) throw err;
          forwards.push(this.deadLetter(q, { reason: 'no_route', error: err.message, deliveries: q.attempt }));
          return;
        }
      }
      this.onFailure(q, msg, res.error, forwards);
    });

    await this.commit(forwards);
    metrics.timing('batch.total_ms', Date.now() - started, this.tags);
  }

  private onFailure(q: Queued, msg: Message, error: Error, forwards: Forward[]): void {
    const { stage, metrics, logger } = this.d;
    metrics.increment('messages.errors', 1, this.tags);
    const permanent = isPermanent(error);
    if (permanent || q.attempt >= stage.maxDeliveries) {
      const reason = permanent ? 'permanent_error' : 'max_deliveries';
      forwards.push(this.deadLetter(q, { reason, error: error.message, deliveries: q.attempt }));
      return;
    }
    const delay = backoffMs(q.attempt, stage.retryBaseMs, stage.retryMaxMs);
    logger.warn('message.retry', { id: q.entry.id, key: msg.envelope.key, attempt: q.attempt, delayMs: delay, err: error });
    metrics.increment('messages.retries', 1, this.tags);
    this.queue.set(q.entry.id, { entry: q.entry, attempt: q.attempt + 1, dueAt: Date.now() + delay });
  }

  private decode(entry: RawEntry): Message {
    const { key, payload } = entryFields(entry.fields);
    if (!payload) throw new DecodeError(`entry ${entry.id} has no '${FIELD_ENVELOPE}' field`);
    const envelope = decodeEnvelope(payload);
    if (key !== undefined && key !== envelope.key) throw new DecodeError(`entry key ${key} does not match envelope key ${envelope.key}`);
    return { id: entry.id, stream: this.d.stage.input, envelope };
  }

  /** Add this stage's output and hop to the envelope and pick the targets. */
  private forward(msg: Message, output: Record<string, unknown>, q: Queued, readAt: number, doneAt: number, batch: number): Forward {
    const { stage, router, keys, metrics } = this.d;
    const env = msg.envelope;
    env.outputs[stage.name] = output;
    env.hops.push({ stage: stage.name, consumer: this.d.consumer, readAt, doneAt, batch });
    if (!router) {
      metrics.timing('message.e2e_ms', doneAt - env.producedAt, this.tags);
      return { id: q.entry.id, targets: [], fields: [] };
    }
    const decision = router.route(output);
    metrics.increment('messages.routed', 1, { ...this.tags, route: decision.targets.join('+') });
    return { id: q.entry.id, targets: decision.targets.map((t) => keys.stream(t)), fields: [FIELD_KEY, env.key, FIELD_ENVELOPE, encodeEnvelope(env)] };
  }

  private deadLetter(q: Queued, dl: DeadLetter): Forward {
    this.d.metrics.increment('messages.dead_lettered', 1, { ...this.tags, reason: dl.reason });
    this.d.logger.warn('message.dead_letter', { id: q.entry.id, reason: dl.reason, error: dl.error, deliveries: dl.deliveries });
    return deadLetterForward(q.entry, this.d.stage.name, this.d.stage.input, this.d.keys.dlq, dl);
  }

  /** Hand off, retrying transient Redis errors until it goes through (or shutdown gives up). */
  private async commit(forwards: Forward[]): Promise<void> {
    const { stage, metrics, logger } = this.d;
    if (forwards.length === 0) return;
    for (let attempt = 1; ; attempt++) {
      try {
        const acked = await handOff(this.redis, this.source, this.group, forwards);
        const fresh = acked.filter(Boolean).length;
        this.processed += fresh;
        metrics.increment('messages.out', fresh, this.tags);
        if (fresh < acked.length) {
          metrics.increment('messages.duplicates_suppressed', acked.length - fresh, this.tags);
          logger.info('handoff.already_acked', { count: acked.length - fresh });
        }
        return;
      } catch (err) {
        metrics.increment('handoff.errors', 1, this.tags);
        if (!isTransientRedisError(err) || this.stopping) throw err;
        const delay = backoffMs(attempt, stage.retryBaseMs, stage.retryMaxMs);
        logger.warn('handoff.retry', { attempt, delayMs: delay, err });
        await sleep(delay);
      }
    }
  }

  /** While a batch runs, reset its entries' idle time so the reclaimer of another consumer leaves them. */
  private heartbeat(ids: string[]): NodeJS.Timeout {
    const timer = setInterval(() => {
      const held = [...ids, ...this.heldIds()];
      this.redis.xclaim(this.source, this.group, this.d.consumer, 0, ...held, 'JUSTID').catch((err: unknown) => {
        this.d.metrics.increment('heartbeat.errors', 1, this.tags);
        this.d.logger.warn('consumer.heartbeat_error', { err });
      });
    }, this.d.stage.heartbeatMs);
    timer.unref();
    return timer;
  }
}
