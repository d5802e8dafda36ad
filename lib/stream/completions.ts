import type { Redis } from 'ioredis';
import { backoffMs } from '../core/backoff.js';
import { ioDeadline } from '../core/io-deadline.js';
import { settleWithin } from '../core/periodic.js';
import type { Logger } from '../observe/logger.js';

export { parseCompletion, type CompletionEvent } from './completion-event.js';
import { parseCompletion, type CompletionEvent } from './completion-event.js';

/** How the readers read (the HTTP API's `limits` of the same names, lib/config/api-limits.ts). */
export interface CompletionReadLimits {
  /** XREAD BLOCK, ms. */
  completionsBlockMs: number;
  /** XREAD COUNT. */
  completionsBatch: number;
  /** First pause after a failed read, ms (doubled per failure in a row). */
  completionsRetryMs: number;
  /** Longest pause after failed reads, ms. */
  completionsRetryMaxMs: number;
}

type Waiter = (e: CompletionEvent | undefined) => void;
/**
 * Called once per XREAD batch (one shard's) with its events in stream order and every shard's
 * position before it (`before[i]`: the id of the last entry of shard i handed out before this
 * batch); the read loops await it (a fan-out that yields holds the next read, not the process).
 */
export type BatchSubscriber = (events: readonly CompletionEvent[], before: readonly string[]) => void | Promise<void>;

/** One completion stream and the blocking connection that reads it (one per shard). */
export interface CompletionSource {
  reader: Redis;
  /** `{p}:done`, or shard N's `{p:N}:done`. */
  stream: string;
}

/**
 * The readers of the completion streams in a server process: one blocking XREAD per shard
 * (`{p}:done` unsharded: one; `{p:N}:done` per shard, each on its own connection, since a
 * cross-slot XREAD is refused on a Redis Cluster), whatever the number of waiting requests and SSE
 * clients. Each event wakes the waiters of its id (a map lookup: an id's events are all on its
 * shard); then each subscriber gets the whole batch once (the SSE fan-out formats it once for all
 * its clients, lib/api/events.ts). Batches of every shard are handed out one at a time, in the
 * order they were read, so `positions` is one order for every subscriber. Waiting costs a map
 * entry and a timer, no connection.
 */
export class Completions {
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly subscribers = new Set<BatchSubscriber>();
  private loop?: Promise<void>;
  private stopped = false;
  /** The read loops' backoff pauses in progress: stop wakes them (their timers cleared), so no timer outlives it. */
  private readonly pauses = new Set<() => void>();
  /** The batches handed out one after another, whichever shard read them. */
  private handing: Promise<void> = Promise.resolve();
  /** Per shard: the id of the last entry handed out (its start position until then; "" until every shard's start is known). */
  readonly positions: string[];
  /** Read errors since start (also logged). */
  errors = 0;
  private markPositioned!: () => void;
  /** Settles once every shard's start position is known (or on stop): a completion written after it is read. */
  readonly positioned = new Promise<void>((resolve) => (this.markPositioned = resolve));

  constructor(
    private readonly sources: readonly CompletionSource[],
    private readonly logger: Logger,
    private readonly limits: CompletionReadLimits,
  ) {
    this.positions = sources.map(() => '');
  }

  /** Streams read: 1 unsharded, else the pipeline's shard count. */
  get shards(): number {
    return this.sources.length;
  }

  /** Waiting requests (for tests and the connection-budget check). */
  get waiting(): number {
    let n = 0;
    for (const s of this.waiters.values()) n += s.size;
    return n;
  }

  /** True once every reader has its start position and its connection is up (every stream is being followed). */
  get following(): boolean {
    return this.sources.every((s, i) => this.positions[i] !== '' && s.reader.status === 'ready');
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Stop reading; every waiter is woken with undefined (answered as not yet final). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.markPositioned();
    for (const set of this.waiters.values()) for (const w of set) w(undefined);
    this.waiters.clear();
    this.subscribers.clear();
    for (const wake of [...this.pauses]) wake();
    // The loop ends within one XREAD BLOCK; while Redis is down its XREAD waits for the reconnect: don't wait for that.
    // settleWithin clears its timer: a bare sleep in the race kept the process alive that long after stop.
    await settleWithin(this.loop, this.limits.completionsBlockMs + 500); // + the reply's trip past its BLOCK
  }

  /**
   * Wait up to `timeoutMs` for a completion of `key`. Call before checking the current status
   * (`const w = wait(); check(); ... await w.promise`), so an event between the two is not lost;
   * `cancel()` when the check already found it final.
   */
  wait(key: string, timeoutMs: number): { promise: Promise<CompletionEvent | undefined>; cancel: () => void } {
    let waiter!: Waiter;
    let cancelTimer: (() => void) | undefined;
    const promise = new Promise<CompletionEvent | undefined>((resolve) => {
      waiter = (e) => {
        cancelTimer?.();
        const set = this.waiters.get(key);
        set?.delete(waiter);
        if (set?.size === 0) this.waiters.delete(key);
        resolve(e);
      };
    });
    if (this.stopped) waiter(undefined);
    else {
      let set = this.waiters.get(key);
      if (!set) this.waiters.set(key, (set = new Set()));
      set.add(waiter);
      // After the I/O phase: a completion already read from Redis, but not yet handled when a held-up loop runs the timer, still wakes it.
      cancelTimer = ioDeadline(timeoutMs, () => waiter(undefined));
    }
    return { promise, cancel: () => waiter(undefined) };
  }

  /** Every batch of events from now on; returns the unsubscribe function. */
  subscribe(fn: BatchSubscriber): () => void {
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
  }

  /** Wake the waiters of each event, then give the batch to each subscriber (awaited: the next XREAD waits for the fan-out). */
  private async dispatch(shard: number, events: readonly CompletionEvent[]): Promise<void> {
    const before = [...this.positions];
    this.positions[shard] = events.at(-1)!.id;
    for (const e of events) {
      const set = this.waiters.get(e.key);
      if (set) for (const w of [...set]) w(e);
    }
    for (const s of [...this.subscribers]) {
      try {
        await s(events, before);
      } catch (err) {
        this.logger.error('completions.subscriber_error', { err, shard, first: events[0]?.id, last: events.at(-1)?.id });
      }
    }
  }

  /** A read error: logged and counted, then a jittered pause before the next try. */
  private async failed(err: unknown, failures: number, shard: number): Promise<void> {
    this.errors++;
    this.logger.warn('completions.read_error', { err, attempt: failures, ...(this.sources.length > 1 ? { shard } : {}) });
    await this.pause(backoffMs(failures, this.limits.completionsRetryMs, this.limits.completionsRetryMaxMs));
  }

  /** Sleep `ms`, or until stop (which clears the timer: a backoff of up to 5 s outlived the server's close). */
  private pause(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.pauses.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.pauses.add(wake);
    });
  }

  private async run(): Promise<void> {
    // Every shard's start position first (after its newest entry: explicit ids from here on, so
    // nothing between reads is missed): a position handed out always names every shard.
    await Promise.all(
      this.sources.map(async (src, shard) => {
        for (let failures = 0; !this.stopped && this.positions[shard] === '';) {
          try {
            const last = await src.reader.xrevrange(src.stream, '+', '-', 'COUNT', 1);
            this.positions[shard] = last[0]?.[0] ?? '0-0';
          } catch (err) {
            if (!this.stopped) await this.failed(err, ++failures, shard);
          }
        }
      }),
    );
    this.markPositioned();
    await Promise.all(this.sources.map((src, shard) => this.follow(src, shard)));
  }

  /** One shard's read loop: XREAD BLOCK after the last id read, each batch handed out in turn with the other shards'. */
  private async follow(src: CompletionSource, shard: number): Promise<void> {
    const { completionsBlockMs, completionsBatch } = this.limits;
    const tag = this.sources.length > 1 ? shard : undefined;
    let lastRead = this.positions[shard]!;
    for (let failures = 0; !this.stopped;) {
      try {
        const reply = await src.reader.xread('COUNT', completionsBatch, 'BLOCK', completionsBlockMs, 'STREAMS', src.stream, lastRead);
        failures = 0;
        const events: CompletionEvent[] = [];
        for (const [, entries] of reply ?? []) {
          for (const [id, fields] of entries) {
            lastRead = id;
            const e = parseCompletion(id, fields, tag);
            if (e) events.push(e);
            else this.logger.warn('completions.bad_entry', { id, ...(tag === undefined ? {} : { shard }) });
          }
        }
        if (events.length > 0 && !this.stopped) {
          const turn = this.handing.then(() => this.dispatch(shard, events));
          this.handing = turn.catch(() => undefined);
          await turn;
        }
      } catch (err) {
        if (this.stopped) break;
        await this.failed(err, ++failures, shard);
      }
    }
  }
}
