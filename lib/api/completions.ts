import type { Redis } from 'ioredis';
import { backoffMs, sleep } from '../core/backoff.js';
import { ioDeadline } from '../core/io-deadline.js';
import type { Logger } from '../observe/logger.js';
import type { FinalStatus } from '../stream/done.js';
import type { ApiLimits } from './options.js';

/** One entry of `{p}:done` (lib/stream/done.ts), as the API sees it. */
export interface CompletionEvent {
  /** The stream entry id: the SSE event id, and where a resumed stream goes on from. */
  id: string;
  key: string;
  status: FinalStatus;
  stage: string;
  reason?: string;
  error?: string;
  /** ms since epoch. */
  at: number;
}

/** A `{p}:done` entry's flat field list → event (undefined for an entry without a key or status). */
export function parseCompletion(id: string, fields: readonly string[]): CompletionEvent | undefined {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
  if (!f.k || !f.s) return undefined;
  return { id, key: f.k, status: f.s as FinalStatus, stage: f.g ?? '', ...(f.r ? { reason: f.r } : {}), ...(f.x ? { error: f.x } : {}), at: Number(f.t ?? 0) };
}

type Waiter = (e: CompletionEvent | undefined) => void;
/** Called once per XREAD batch with its events in stream order; the read loop awaits it (a fan-out that yields holds the next read, not the process). */
export type BatchSubscriber = (events: readonly CompletionEvent[]) => void | Promise<void>;

/**
 * The one reader of `{p}:done` in a server process: one blocking XREAD on its own connection,
 * whatever the number of waiting requests and SSE clients. Each event wakes the waiters of its id
 * (a map lookup); then each subscriber gets the whole batch once (the SSE fan-out formats it once
 * for all its clients, lib/api/events.ts). Waiting costs a map entry and a timer, no connection.
 */
export class Completions {
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly subscribers = new Set<BatchSubscriber>();
  private loop?: Promise<void>;
  private stopped = false;
  /** Id of the last entry read ("" until the start position is known). */
  lastId = '';
  /** Read errors since start (also logged). */
  errors = 0;

  constructor(
    private readonly reader: Redis,
    private readonly stream: string,
    private readonly logger: Logger,
    private readonly limits: Pick<ApiLimits, 'completionsBlockMs' | 'completionsBatch' | 'completionsRetryMs'>,
  ) {}

  /** Waiting requests (for tests and the connection-budget check). */
  get waiting(): number {
    let n = 0;
    for (const s of this.waiters.values()) n += s.size;
    return n;
  }

  /** True once the reader has its start position (the stream is being followed). */
  get following(): boolean {
    return this.lastId !== '' && this.reader.status === 'ready';
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Stop reading; every waiter is woken with undefined (answered as not yet final). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const set of this.waiters.values()) for (const w of set) w(undefined);
    this.waiters.clear();
    this.subscribers.clear();
    // The loop ends within one XREAD BLOCK; while Redis is down its XREAD waits for the reconnect: don't wait for that.
    await Promise.race([this.loop, sleep(this.limits.completionsBlockMs + 500)]);
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
  private async dispatch(events: readonly CompletionEvent[]): Promise<void> {
    for (const e of events) {
      const set = this.waiters.get(e.key);
      if (set) for (const w of [...set]) w(e);
    }
    for (const s of [...this.subscribers]) {
      try {
        await s(events);
      } catch (err) {
        this.logger.error('completions.subscriber_error', { err, first: events[0]?.id, last: events.at(-1)?.id });
      }
    }
  }

  private async run(): Promise<void> {
    const { completionsBlockMs, completionsBatch, completionsRetryMs } = this.limits;
    for (let failures = 0; !this.stopped;) {
      try {
        if (this.lastId === '') {
          // Start after the newest entry: explicit ids from here on, so nothing between reads is missed.
          const last = await this.reader.xrevrange(this.stream, '+', '-', 'COUNT', 1);
          this.lastId = last[0]?.[0] ?? '0-0';
        }
        const reply = await this.reader.xread('COUNT', completionsBatch, 'BLOCK', completionsBlockMs, 'STREAMS', this.stream, this.lastId);
        failures = 0;
        const events: CompletionEvent[] = [];
        for (const [, entries] of reply ?? []) {
          for (const [id, fields] of entries) {
            this.lastId = id;
            const e = parseCompletion(id, fields);
            if (e) events.push(e);
            else this.logger.warn('completions.bad_entry', { id });
          }
        }
        if (events.length > 0) await this.dispatch(events);
      } catch (err) {
        if (this.stopped) break;
        this.errors++;
        this.logger.warn('completions.read_error', { err, attempt: ++failures });
        await sleep(backoffMs(failures, completionsRetryMs, 5_000));
      }
    }
  }
}
