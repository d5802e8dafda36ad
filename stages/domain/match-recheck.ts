import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { Packr } from 'msgpackr';
import { ConfigError } from '../../lib/core/errors.js';
import type { Shards } from '../../lib/redis/shard.js';
import { Script } from '../../lib/redis/script.js';
import { dot } from './ivf.js';
import { bufferToVector, vectorToBuffer } from './vector-bytes.js';
import type { VectorStore } from './vector-store.js';

/** `settings.recheck` of a match stage (docs/scale-out.md: re-checking what was matched while a shard was behind). */
export interface RecheckOptions {
  /** Records kept for a re-check per shard; beyond it the oldest are dropped (`match.recheck_dropped`). @defaultValue 10000 */
  maxPending: number;
  /** Entries read per LRANGE of a shard's re-check list. @defaultValue 100 */
  chunk: number;
  /**
   * How long after a shard caught up its records are re-checked: the vector writes other workers
   * held for it (retried with a backoff of up to 1 s) land first. @defaultValue 2000
   */
  settleMs: number;
  /** While entries wait (their shard still behind, or another worker's), the list is read again after this long. @defaultValue 1000 */
  retryMs: number;
  /** How long a correction's marker (`{p:N}:match-corrected:<key>`) is kept: it makes a re-check sent twice send once. @defaultValue 86400000 */
  markerTtlMs: number;
}

export const RECHECK_DEFAULTS: RecheckOptions = { maxPending: 10_000, chunk: 100, settleMs: 2_000, retryMs: 1_000, markerTtlMs: 86_400_000 };

/** `settings.recheck`: positive integers, unknown keys refused; ConfigError names the setting. */
export function parseRecheckOptions(where: string, raw: unknown): RecheckOptions {
  if (raw === undefined) return { ...RECHECK_DEFAULTS };
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    throw new ConfigError(where, `expected an object with ${Object.keys(RECHECK_DEFAULTS).join(', ')}`);
  const out = { ...RECHECK_DEFAULTS };
  for (const [k, v] of Object.entries(raw)) {
    if (!(k in RECHECK_DEFAULTS)) throw new ConfigError(`${where}.${k}`, `unknown setting (known: ${Object.keys(RECHECK_DEFAULTS).join(', ')})`);
    if (!Number.isInteger(v) || (v as number) < 1) throw new ConfigError(`${where}.${k}`, `expected a positive integer, got ${JSON.stringify(v)}`);
    out[k as keyof RecheckOptions] = v as number;
  }
  return out;
}

/** One record to re-check: its envelope as matched (bytes), its vector, its category, and per behind shard where this copy's read of its log stood. */
interface Entry {
  key: string;
  e: Buffer;
  v: Buffer;
  c: string;
  w: [shard: number, from: number][];
}

/** What the match stage does with a duplicate found late: hand the corrected record on (match.ts). */
export interface RecheckHooks {
  /** The corrected envelope and its route targets (stream names), or undefined to leave the record as it is. */
  correct(envelope: Buffer, hit: { key: string; score: number }): { envelope: Buffer; targets: string[] } | undefined;
  log(level: 'info' | 'warn', event: string, fields: Record<string, unknown>): void;
  count(metric: 'match.rechecked' | 'match.recheck_corrected' | 'match.recheck_dropped', n: number): void;
}

/** What one pass over the lists reads once: each category's sync, each window of a shard's log. */
interface Pass {
  windows: Map<string, Promise<[string, Float32Array][] | undefined>>;
  synced: Map<string, Promise<void>>;
}

const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true });
const correctScript = new Script('match-correct-N');

/** A correction call's id (randomUUID) as kept in its marker. */
const CALL_ID_LENGTH = 36;

/** The twin a correction marker names: `<twin>\0<id of the call that set it>` (match-correct-N.lua); a marker without the id names the twin alone. */
function markedTwin(marker: string): string {
  const cut = marker.length - CALL_ID_LENGTH - 1;
  return cut >= 0 && marker[cut] === '\0' ? marker.slice(0, cut) : marker;
}

/**
 * Re-checks, once a shard caught up, the records a match worker matched against a stale copy of
 * it (its master had not answered within shardWaitMs) and found no duplicate for: each is kept in
 * its own shard's list `{p:N}:match-recheck` (durable: a worker restart, or another worker, reads
 * it; capped at maxPending), and compared, exactly (float32), with the vectors the behind shard
 * logged from where this copy's read of it stood to where it stands once caught up. A twin at or
 * above the threshold is a correction: the record with duplicateOf set goes where the match
 * stage's routes send it (match-correct-N.lua, once per record). docs/scale-out.md.
 */
export class MatchRechecks {
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly redis: Redis,
    private readonly shards: Shards,
    private readonly vectors: VectorStore,
    private readonly threshold: number,
    private readonly o: RecheckOptions,
    private readonly hooks: RecheckHooks,
  ) {}

  private listKey(s: number): string {
    return this.shards.all[s]!.extra('match-recheck');
  }
  private markerKey(key: string): string {
    return this.shards.keysFor(key).extra(`match-corrected:${key}`);
  }

  /** The shards behind now and, for `category`, where this copy's read of each stands: taken before a batch's lookups (empty: nothing to re-check). */
  behind(category: string): [shard: number, from: number][] {
    return this.vectors.behindShards().map((s) => [s, this.vectors.position(category, s)]);
  }

  /** Keep `key` for a re-check against the shards `behind` gave (resolves once the entry is in Redis). */
  async note(key: string, category: string, envelope: Buffer, vec: Float32Array, behind: [number, number][]): Promise<void> {
    const entry: Entry = { key, e: envelope, v: vectorToBuffer(vec), c: category, w: behind };
    // Kept on the record's shard, or on the first shard not behind when that one is (its master may not answer).
    const own = this.shards.shardOf(key);
    const free = this.shards.all.findIndex((_, s) => !behind.some(([b]) => b === s));
    const list = this.listKey(free >= 0 && behind.some(([s]) => s === own) ? free : own);
    const length = await this.redis.rpush(list, packr.pack(entry));
    if (length <= this.o.maxPending) return;
    await this.redis.ltrim(list, length - this.o.maxPending, -1);
    this.hooks.count('match.recheck_dropped', length - this.o.maxPending);
    this.hooks.log('warn', 'match.recheck_dropped', { list, dropped: length - this.o.maxPending, maxPending: this.o.maxPending });
  }

  /** Re-check what waits (in the background, one pass at a time; a call during a pass runs another after it). */
  kick(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.pass()
      .catch((err: unknown) => {
        if (!this.closed) this.hooks.log('warn', 'match.recheck_failed', { err });
        return true;
      })
      .then((left) => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        } else if (left && !this.closed) this.timer = setTimeout(() => this.kick(), this.o.retryMs).unref();
      });
  }

  /** Resolves when no pass is running (tests). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  /** One pass over every shard's list; true when entries were left to read again later. */
  private async pass(): Promise<boolean> {
    let left = false;
    const p: Pass = { windows: new Map(), synced: new Map() };
    for (let s = 0; s < this.shards.all.length && !this.closed; s++) left = (await this.passShard(s, p)) || left;
    return left;
  }

  private async passShard(s: number, p: Pass): Promise<boolean> {
    const list = this.listKey(s);
    let left = 0;
    for (;;) {
      // Through the shard waits: a list on a master that does not answer holds no other shard's.
      const raw = await this.vectors.onShard(s, () => this.redis.lrangeBuffer(list, left, left + this.o.chunk - 1));
      if (raw === undefined) return true;
      if (raw.length === 0) return left > 0;
      for (const r of raw) if (!(await this.recheck(list, r, p))) left++;
      if (this.closed) return true;
    }
  }

  /** One entry: true when it was settled (left the list), false when it must wait. */
  private async recheck(list: string, raw: Buffer, { windows, synced }: Pass): Promise<boolean> {
    if (this.closed) return false;
    let entry: Entry;
    try {
      entry = packr.unpack(raw) as Entry;
    } catch (err) {
      // Not an entry this code wrote: it would stop every pass, so it goes (logged).
      this.hooks.log('warn', 'match.recheck_failed', { list, err, dropped: true });
      await this.redis.lrem(list, 1, raw);
      return true;
    }
    if (!synced.has(entry.c)) synced.set(entry.c, this.vectors.sync(entry.c));
    await synced.get(entry.c);
    if (entry.w.some(([s]) => !this.vectors.caughtUp(entry.c, s, this.o.settleMs))) return false;
    const vec = bufferToVector(entry.v);
    let best: { key: string; score: number } | undefined;
    for (const [s, from] of entry.w) {
      const to = this.vectors.position(entry.c, s);
      const id = `${entry.c}\0${s}\0${from}\0${to}`;
      if (!windows.has(id)) windows.set(id, this.vectors.window(entry.c, s, from, to));
      const found = await windows.get(id)!;
      if (!found) return false;
      // The first vector of the window (log order: arrival) that reaches the threshold is the twin
      // most likely to be the earlier one; below it, the best score is only logged.
      let first: { key: string; score: number } | undefined;
      for (const [k, v] of found) {
        if (k === entry.key) continue;
        const score = dot(v, 0, vec, 0, vec.length);
        if (score >= this.threshold) {
          first = { key: k, score };
          break;
        }
        if (!first && (!best || score > best.score)) best = { key: k, score };
      }
      if (first && (!best || best.score < this.threshold || first.score > best.score)) best = first;
    }
    this.hooks.count('match.rechecked', 1);
    const fix = best && best.score >= this.threshold ? await this.correction(entry, best) : undefined;
    if (!fix) {
      await this.redis.lrem(list, 1, raw);
      this.hooks.log('info', 'match.rechecked', {
        key: entry.key,
        shards: entry.w.map(([s]) => s),
        ...(best ? { best: best.key, score: round(best.score) } : {}),
      });
      return true;
    }
    const keys = this.shards.keysFor(entry.key);
    // The call's id goes into the marker: the client's own re-send of this call (its reply lost
    // with the connection) is answered as sent, a marker another call set as not.
    const sent = await correctScript.run<number>(
      this.redis,
      [this.markerKey(entry.key), ...fix.targets.map((t) => keys.stream(t))],
      [entry.key, best!.key, fix.envelope, String(this.o.markerTtlMs), randomUUID()],
    );
    // After the correction: a crash in between leaves the entry, and its marker makes the next re-check send nothing.
    await this.redis.lrem(list, 1, raw);
    if (sent === 1) this.hooks.count('match.recheck_corrected', 1);
    this.hooks.log('info', 'match.recheck_corrected', {
      key: entry.key,
      duplicateOf: best!.key,
      score: round(best!.score),
      targets: fix.targets,
      sent: sent === 1,
    });
    return true;
  }

  /** The correction for `entry`, unless its twin was itself corrected as a duplicate of it (both re-checked: the first one wins). */
  private async correction(entry: Entry, hit: { key: string; score: number }): Promise<{ envelope: Buffer; targets: string[] } | undefined> {
    const marker = await this.redis.get(this.markerKey(hit.key));
    if (marker !== null && markedTwin(marker) === entry.key) return undefined;
    try {
      return this.hooks.correct(entry.e, hit);
    } catch (err) {
      // Its envelope does not decode or its routes send it nowhere (as its first hand-off would have dead-lettered it): left as it was stored.
      this.hooks.log('warn', 'match.recheck_failed', { key: entry.key, duplicateOf: hit.key, err });
      return undefined;
    }
  }
}

const round = (x: number) => Math.round(x * 1e4) / 1e4;
