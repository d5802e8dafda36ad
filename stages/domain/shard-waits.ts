import { backoffMs, sleep } from '../../lib/core/backoff.js';
import { isTransientRedisError } from '../../lib/core/failure-policy.js';
import { within } from '../../lib/core/io-deadline.js';

export interface ShardWaitOptions {
  /**
   * How long the match stage waits on one shard's vector reads or writes (its master) before it
   * goes on without that shard (settings.shardWaitMs). @defaultValue 1000
   */
  shardWaitMs?: number;
  /** Backoff of a write retried after its batch went on (doubling up to 1000 ms). @defaultValue 50 */
  retryBaseMs?: number;
  /** Logs `match.shard_behind` and `match.shard_caught_up`. @defaultValue none */
  log?: (level: 'warn' | 'info', event: string, fields: Record<string, unknown>) => void;
  /** Called after `match.shard_caught_up` (the match stage then re-checks what it matched meanwhile: match-recheck.ts). @defaultValue none */
  onCaughtUp?: (shard: number) => void;
}

export const SHARD_WAIT_DEFAULT_MS = 1_000;

/**
 * The match stage's Redis calls per shard, each waited for at most `shardWaitMs`. Its vector sync
 * reads every shard, so one master that cannot answer (a failover: until its replica is promoted,
 * cluster-node-timeout and more) had held the records of every shard, since a worker runs one
 * batch at a time. Now a shard that does not answer in time is **behind**: batches go on with the
 * last synced copy of its vectors, its sync goes on in the background (one per category, not
 * started again while it runs) and the copy catches up when it answers; a write to it that
 * outlives its batch is retried until it lands (close() ends that). docs/scale-out.md, the paragraph on what a failover pauses.
 */
export class ShardWaits {
  private readonly waitMs: number;
  /** Reads still running, by key (category and shard), and whether they overran the wait. */
  private readonly running = new Map<string, { done: Promise<void>; late: boolean }>();
  /** Shards behind, since when. */
  private readonly behindSince = new Map<number, number>();
  /** When each shard that had been behind answered again. */
  private readonly caughtUpAt = new Map<number, number>();
  private closed = false;

  constructor(private readonly opts: ShardWaitOptions = {}) {
    this.waitMs = opts.shardWaitMs ?? SHARD_WAIT_DEFAULT_MS;
  }

  /** True while `shard` has not answered a call since one overran the wait. */
  isBehind(shard: number): boolean {
    return this.behindSince.has(shard);
  }

  private behind(shard: number, what: string, err?: unknown): void {
    if (this.behindSince.has(shard)) return;
    this.behindSince.set(shard, Date.now());
    this.opts.log?.('warn', 'match.shard_behind', { shard, what, waitedMs: this.waitMs, ...(err ? { err } : {}) });
  }

  private answered(shard: number): void {
    const since = this.behindSince.get(shard);
    if (since === undefined) return;
    this.behindSince.delete(shard);
    this.caughtUpAt.set(shard, Date.now());
    this.opts.log?.('info', 'match.shard_caught_up', { shard, behindMs: Date.now() - since });
    this.opts.onCaughtUp?.(shard);
  }

  /** Milliseconds since `shard` answered after being behind; Infinity when it never was behind here. */
  sinceCaughtUp(shard: number): number {
    const at = this.caughtUpAt.get(shard);
    return at === undefined ? Infinity : Date.now() - at;
  }

  /** Whether a read of `key` (a category's sync of one shard) is still running after it overran the wait. */
  lagging(key: string): boolean {
    return this.running.get(key)?.late === true;
  }

  /**
   * A read of `shard` (a sync of one category's vectors there), one at a time per `key`: waits
   * for it at most `shardWaitMs`, not at all when the one running has already overrun. A
   * transient Redis error is the shard being behind too (the next call tries again); any other
   * error is thrown.
   */
  async read(key: string, shard: number, work: () => Promise<void>): Promise<void> {
    let run = this.running.get(key);
    if (run?.late) return;
    if (!run) {
      const r = { late: false, done: Promise.resolve() };
      r.done = work().then(
        () => this.answered(shard),
        (err: unknown) => {
          if (!isTransientRedisError(err)) throw err;
          this.behind(shard, key, err);
        },
      );
      r.done.finally(() => this.running.delete(key)).catch(() => undefined);
      this.running.set(key, (run = r));
    }
    const finished = await within(
      this.waitMs,
      run.done.then(() => true),
    );
    if (finished) return;
    run.late = true;
    this.behind(shard, key);
  }

  /** A one-off read of `shard` (exact vectors): its value, or undefined when the shard is behind, errs transiently or overruns the wait. */
  async value<T>(shard: number, work: () => Promise<T>): Promise<T | undefined> {
    if (this.isBehind(shard)) return undefined;
    try {
      const v = await within(
        this.waitMs,
        work().then((x) => ({ x })),
      );
      if (v) return v.x;
      this.behind(shard, 'exact vectors');
    } catch (err) {
      if (!isTransientRedisError(err)) throw err;
      this.behind(shard, 'exact vectors', err);
    }
    return undefined;
  }

  /**
   * A write to `shard`: its result when it settles within `shardWaitMs` (an error then is thrown,
   * so the batch is retried as before); else undefined, and it goes on in the background, tried
   * again after a transient error until it lands or close().
   */
  async write<T>(shard: number, work: () => Promise<T>): Promise<T | undefined> {
    const first = work();
    const v = await within(
      this.waitMs,
      first.then((x) => ({ x })),
    );
    if (v) {
      this.answered(shard);
      return v.x;
    }
    this.behind(shard, 'vector write');
    void this.land(shard, first, work);
    return undefined;
  }

  private async land<T>(shard: number, first: Promise<T>, work: () => Promise<T>): Promise<void> {
    let attempt = first;
    for (let n = 1; ; n++) {
      try {
        await attempt;
        this.answered(shard);
        return;
      } catch (err) {
        if (this.closed || !isTransientRedisError(err)) {
          this.opts.log?.('warn', 'match.vector_write_dropped', { shard, err });
          return;
        }
      }
      await sleep(backoffMs(n, this.opts.retryBaseMs ?? 50, 1_000));
      attempt = work();
    }
  }

  close(): void {
    this.closed = true;
  }
}
