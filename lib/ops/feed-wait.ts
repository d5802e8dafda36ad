import type { Redis } from 'ioredis';
import { Completions, type CompletionReadLimits } from '../stream/completions.js';
import { API_DEFAULTS } from '../config/api-limits.js';
import { trimmedPast } from '../stream/trimmed-past.js';
import { isTransientRedisError } from '../core/failure-policy.js';
import type { Logger } from '../observe/logger.js';
import type { Shards } from '../redis/shard.js';
import type { CompletionEvent } from '../stream/completion-event.js';
import { FINAL_STATUSES, type FinalStatus } from '../stream/done.js';
import { decodeStatus } from '../stream/status-value.js';
import { FeedTally, type FeedEnds } from './feed-ends.js';

export type { FeedEnds } from './feed-ends.js';

export interface FeedWaitOptions {
  /** How often the completion streams are checked for a trimmed gap (and progress said). @defaultValue 1000 */
  checkMs?: number;
  /** The completion readers' XREAD block, batch and retry pauses. @defaultValue the API's (`completionsBlockMs` 1000, `completionsBatch` 1000, `completionsRetryMs` 100, `completionsRetryMaxMs` 5000) */
  readLimits?: Partial<CompletionReadLimits>;
  /** A Redis that fails the checks this long in a row ends the wait with its error (`produce --retry-for`); 0: the first error. */
  retryForMs: number;
  /** Called as a check fails with a transient error: the error, how long the checks have failed so far, and `retryForMs`. */
  onRetry?: (err: unknown, failingMs: number, retryForMs: number) => void;
  /** Called when a check succeeds again after failing: how long it failed. */
  onResumed?: (failedMs: number) => void;
  /** Called once per check while waiting. */
  onProgress?: (ends: FeedEnds) => void;
  /** Called when a trimmed gap sent the wait to the status keys: the shard's stream and how many ids that lookup ended. */
  onGap?: (stream: string, ended: number) => void;
}

/** Status keys read per MGET. */
const LOOKUP_CHUNK = 500;

/**
 * `produce --wait`: the ends (stored, review, dead-lettered) of the ids one producer run sent.
 * `open` reads every shard's completion stream position first; ids are added as their batch is sent
 * (before XADD: an end is never earlier than its id's registration); each id ends at the first
 * completion of it read after its last send (a completion written twice is counted once; memory:
 * FeedTally). A completion trimmed from a capped `{p}:done` before it was read (the wait behind
 * `limits.doneMaxLen`) is found by `trimmedPast` and the waiting ids' status keys read instead:
 * a final status written at or after the run's start counts (the workers' clocks against this one's).
 */
export class FeedWaiter {
  private readonly tally = new FeedTally();
  /** Per shard: the first entry of the last gap handled, so one gap is looked up once. */
  private readonly gapsSeen: string[];
  private failingSince: number | undefined;
  /** addEarlier's ids, until their status keys are read. */
  private earlier: string[] = [];

  private constructor(
    private readonly redis: Redis,
    private readonly shards: Shards,
    private readonly completions: Completions,
    private readonly readers: readonly Redis[],
    private readonly startedAt: number,
    private readonly opts: FeedWaitOptions,
  ) {
    this.gapsSeen = shards.all.map(() => '');
    completions.subscribe((events) => this.onEvents(events));
  }

  /** Follows every shard's completion stream from its current end: call before the first record is sent. */
  static async open(redis: Redis, shards: Shards, logger: Logger, opts: FeedWaitOptions): Promise<FeedWaiter> {
    const startedAt = Date.now();
    // A blocking XREAD per shard, each on its own connection (lib/stream/completions.ts), beside the producer's.
    const readers = shards.all.map(() => redis.duplicate());
    for (const r of readers) r.on('error', () => {}); // read errors are counted and retried by Completions
    const sources = shards.all.map((k, i) => ({ reader: readers[i]!, stream: k.done }));
    const completions = new Completions(sources, logger, { ...API_DEFAULTS, ...opts.readLimits });
    completions.start();
    const waiter = new FeedWaiter(redis, shards, completions, readers, startedAt, opts);
    try {
      await waiter.untilPositioned();
    } catch (err) {
      await waiter.close();
      throw err;
    }
    return waiter;
  }

  /**
   * Until every shard's start position is read. The readers retry on their own; a Redis that
   * fails the same read from the command connection for `retryForMs` ends the wait with its error.
   */
  private async untilPositioned(): Promise<void> {
    let known = false;
    void this.completions.positioned.then(() => (known = true));
    while (!known) {
      await Promise.race([this.completions.positioned, new Promise((r) => setTimeout(r, this.opts.checkMs ?? 1_000).unref())]);
      if (!known) await this.guarded(() => Promise.all(this.shards.all.map((k) => this.redis.xlen(k.done))));
    }
  }

  /** Ids about to be sent (a batch, before XADD): each waited for until its first end. */
  add(keys: readonly string[]): void {
    for (const k of keys) this.tally.sent(k);
  }

  /** The ends read so far (what `wait` answers at its end). */
  report(): FeedEnds {
    return this.tally.report();
  }

  /** Ids sent (or an earlier invocation's) with no end read yet. */
  get waiting(): number {
    return this.tally.waiting;
  }

  /**
   * Ids an earlier invocation of the same run had sent (a resumed `--run-id`, skipped): waited for
   * too. An end before this wait opened is in the id's status key (read at `wait`, whenever written);
   * one after it, in the completion stream.
   */
  addEarlier(keys: readonly string[]): void {
    for (const k of keys) {
      this.tally.sent(k);
      this.earlier.push(k);
    }
  }

  /** Waits until every id added has ended, or `deadline` (ms since epoch; undefined: none) passed; the status keys are read once at the deadline. */
  async wait(deadline?: number): Promise<FeedEnds> {
    const checkMs = this.opts.checkMs ?? 1_000;
    while (this.earlier.length > 0) {
      if (await this.guarded(() => this.lookUp(this.earlier, 0))) this.earlier = [];
      else await new Promise((r) => setTimeout(r, checkMs));
    }
    while (this.tally.waiting > 0) {
      const left = deadline === undefined ? checkMs : Math.min(checkMs, deadline - Date.now());
      if (left <= 0) {
        await this.guarded(() => this.lookUp(this.tally.pending()));
        break;
      }
      await new Promise((r) => setTimeout(r, left));
      await this.guarded(() => this.checkGaps());
      this.opts.onProgress?.(this.tally.report());
    }
    return this.tally.report(true);
  }

  async close(): Promise<void> {
    const stopped = this.completions.stop();
    for (const r of this.readers) r.disconnect(); // ends a blocked XREAD now, not at its BLOCK's end
    await stopped;
  }

  private onEvents(events: readonly CompletionEvent[]): void {
    for (const e of events) this.tally.ended(e.key, e.status, e.reason);
  }

  /** A check that fails transiently is retried at the next tick, up to `retryForMs` of failing in a row; false when it failed. */
  private async guarded(check: () => Promise<unknown>): Promise<boolean> {
    try {
      await check();
      if (this.failingSince !== undefined) this.opts.onResumed?.(Date.now() - this.failingSince);
      this.failingSince = undefined;
      return true;
    } catch (err) {
      if (!isTransientRedisError(err)) throw err;
      this.failingSince ??= Date.now();
      const failingMs = Date.now() - this.failingSince;
      if (failingMs > this.opts.retryForMs) throw err;
      this.opts.onRetry?.(err, failingMs, this.opts.retryForMs);
      return false;
    }
  }

  /** Each shard's stream trimmed past what was read of it: its waiting ids' ends are read from their status keys. */
  private async checkGaps(): Promise<void> {
    const positions = [...this.completions.positions];
    for (const [i, k] of this.shards.all.entries()) {
      const gap = await trimmedPast(this.redis, k.done, positions[i]!);
      if (!gap || gap.first === this.gapsSeen[i]) continue;
      const ids = this.tally.pending().filter((id) => this.shards.keysFor(id) === k);
      const ended = await this.lookUp(ids);
      this.gapsSeen[i] = gap.first;
      this.opts.onGap?.(k.done, ended);
    }
  }

  /** Ends the ids whose status key holds a final status written at `since` or later (the run's start unless given); returns how many. */
  private async lookUp(ids: readonly string[], since = this.startedAt): Promise<number> {
    let ended = 0;
    for (let i = 0; i < ids.length; i += LOOKUP_CHUNK) {
      const chunk = ids.slice(i, i + LOOKUP_CHUNK);
      // One MGET per shard: a shard's status keys share its hash tag (one slot on a Cluster).
      const byShard = new Map<string, string[]>();
      for (const id of chunk) {
        const k = this.shards.keysFor(id).tag;
        const ids = byShard.get(k);
        if (ids) ids.push(id);
        else byShard.set(k, [id]);
      }
      for (const group of byShard.values()) {
        const values = await this.redis.mget(...group.map((id) => this.shards.keysFor(id).status(id)));
        for (const [j, raw] of values.entries()) {
          const { s, t, r } = decodeStatus(raw);
          if (s !== undefined && FINAL_STATUSES.has(s) && Number(t ?? 0) >= since && this.tally.ended(group[j]!, s as FinalStatus, r)) ended++;
        }
      }
    }
    return ended;
  }
}
