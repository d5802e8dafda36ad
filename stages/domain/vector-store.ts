import type { Redis } from 'ioredis';
import type { Keys } from '../../lib/redis/keys.js';
import { Shards } from '../../lib/redis/shard.js';
import { dot } from './ivf.js';
import { ShardWaits, type ShardWaitOptions } from './shard-waits.js';
import { newBlockState, type Block } from './vector-block-state.js';
import { INDEX_DEFAULTS, VectorBlock, type IndexOptions } from './vector-index.js';
import { bufferToCentroids, centroidsId, centroidsToBuffer, storedVector, vectorFiled, vectorToBuffer } from './vector-bytes.js';
import { isNoPermReply } from '../../lib/core/redis-replies.js';
import { addVector, isRemoval, logSteps, type LogStep } from './vector-moves.js';

/** Log entries read per LRANGE, and keys per HMGET, when catching up: no single reply carries a whole category. */
const SYNC_CHUNK = 1000;
/** Most candidates re-scored exactly when the int8 scores leave a threshold decision open. */
const REFINE_MAX = 16;

/** One vector's lookup (`VectorStore.lookup`): its best hit, and what `settle` still has to score exactly. */
export interface Lookup {
  category: string;
  vec: Float32Array;
  /** The best match: scored on the int8 codes, or exactly once `settle` decided an open lookup. */
  hit?: { key: string; score: number };
  /** While the threshold decision is open: the candidates that may reach it, best first. */
  open?: string[];
}

/**
 * Product vectors by category, kept in Redis next to the products (`{p}:vectors:<category>`:
 * hash of key → little-endian float32 bytes; `{p}:vectors:<category>:log`: keys in arrival order)
 * with a local copy per category (vector-index.ts: its rows in a spill file) that reads only what
 * was added since its last sync. Every match worker sees what the others added; a key added twice
 * replaces its vector, and a key added under another category leaves its old one (vector-moves.ts).
 * With shards, a vector is written under its product's shard (`{p:3}:vectors:<category>`), so
 * writes spread like the products, and each sync reads every shard's log: matching still
 * compares against the whole category.
 *
 * The IVF centroids of a category are shared (`{p}:vectors:<category>:centroids`, on the first
 * shard): the first worker whose copy builds them publishes them (SET NX), every other adopts them,
 * and from then on each vector is written with its list, so a worker that starts later files the
 * vectors it loads without comparing each with every centroid (most of a cold start's CPU).
 */
export class VectorStore {
  private readonly blocks = new Map<string, Block>();
  private readonly shards: Shards;
  private readonly waits: ShardWaits;

  constructor(
    private readonly redis: Redis,
    keys: Keys | Shards,
    private readonly index: IndexOptions = INDEX_DEFAULTS,
    /** Logs a warning (sharing the centroids was refused); once per category. */
    private readonly warn: (event: string, fields: Record<string, unknown>) => void = () => {},
    /** How long a batch waits on one shard's master before it goes on without it (shard-waits.ts). @defaultValue shardWaitMs 1000 */
    shardWaits: ShardWaitOptions = {},
  ) {
    this.shards = Shards.of(keys);
    this.waits = new ShardWaits(shardWaits);
  }

  private vecKey(keys: Keys, category: string) {
    return keys.extra(`vectors:${category}`);
  }
  private logKey(keys: Keys, category: string) {
    return keys.extra(`vectors:${category}:log`);
  }
  /** Product key → the category its vector is under, per shard (the double colon keeps it apart from any category's keys). */
  private recordKey(keys: Keys) {
    return keys.extra('vectors::category');
  }
  private centroidsKey(category: string) {
    return this.shards.all[0]!.extra(`vectors:${category}:centroids`);
  }

  private newBlock(dim: number, centroids?: Float32Array): VectorBlock {
    return new VectorBlock(dim, 1024, this.index, centroids);
  }

  private block(category: string): Block {
    let b = this.blocks.get(category);
    if (!b) this.blocks.set(category, (b = newBlockState(this.shards.all.length)));
    return b;
  }

  /**
   * Catch up with vectors other workers added to `category` (on every shard). A shard whose master
   * does not answer within `shardWaitMs` is left behind (shard-waits.ts): the copy keeps what it
   * had of that shard, and catches up when the shard's sync, still running, returns.
   */
  async sync(category: string): Promise<void> {
    const b = this.block(category);
    if (b.shared === null && !b.unshareable && (!b.looked || b.index?.indexed))
      await this.waits.read(`${category}\0centroids`, 0, () => this.shareCentroids(category, b));
    await Promise.all(this.shards.all.map((shard, s) => this.waits.read(`${category}\0${s}`, s, () => this.syncShard(b, shard, s, category))));
    if (!b.reset) return;
    // The category's log was deleted (`pipeline eval` releases a chunk's vectors, training/eval/release.ts):
    // the copy holds vectors Redis no longer has, and its positions are wrong. It starts over from the new log.
    b.index?.close();
    this.blocks.delete(category);
    await this.sync(category);
  }

  /**
   * Publish this copy's centroids if it has built them and none are shared yet, else adopt the
   * shared ones if there are (every vector already here is filed again under them).
   */
  private async shareCentroids(category: string, b: Block): Promise<void> {
    b.looked = true;
    const key = this.centroidsKey(category);
    const own = b.index?.centroids;
    let raw: Buffer | null;
    try {
      if (b.index && own) {
        const bytes = centroidsToBuffer(own, b.index.dim);
        if ((await this.redis.set(key, bytes, 'NX')) === 'OK') {
          b.shared = centroidsId(bytes);
          return;
        }
      }
      raw = await this.redis.getBuffer(key);
    } catch (err) {
      // An ACL from before the centroids were shared (no GET/SET on them): match works as before, unshared.
      if (!(err instanceof Error) || !isNoPermReply(err)) throw err;
      b.unshareable = true;
      this.warn('match.centroids_unshared', { category, key, err: err.message, fix: 'pipeline acl --apply' });
      return;
    }
    if (!raw) return;
    const stored = bufferToCentroids(raw);
    if (!stored || (b.index && b.index.dim !== stored.dim)) {
      b.unshareable = true;
      const why = stored ? `stored centroids have ${stored.dim} dimensions, vectors ${b.index!.dim}` : 'stored centroids are not a float32 matrix';
      this.warn('match.centroids_unshared', { category, key, err: why });
      return;
    }
    if (b.index) b.index.useCentroids(stored.centroids);
    else b.index = this.newBlock(stored.dim, stored.centroids);
    b.shared = centroidsId(raw);
  }

  /**
   * Reads the log from where this copy is, SYNC_CHUNK keys per LRANGE, and their vectors: a cold
   * start at a million products never holds the whole log (as strings, and as one reply) at once,
   * which was the match worker's peak RSS after a restart.
   */
  private async syncShard(b: Block, shard: Keys, s: number, category: string): Promise<void> {
    const own = b.own[s]!;
    for (;;) {
      const from = b.loaded[s]!;
      // The entry before `from` is read again: the one this copy read there, unless the log was deleted and started again.
      const got = await this.redis.lrange(this.logKey(shard, category), Math.max(0, from - 1), from + SYNC_CHUNK - 1);
      if (from > 0 && got[0] !== b.last[s]) {
        b.reset = true;
        return;
      }
      const logged = from > 0 ? got.slice(1) : got;
      if (logged.length > 0) b.last[s] = logged[logged.length - 1];
      // In log order: a key added, removed (moved to another category) and added again ends up here.
      const steps = logSteps(logged, own);
      if (steps.length > 0) await this.applyFromRedis(b, shard, category, steps);
      b.loaded[s]! += logged.length;
      if (logged.length < SYNC_CHUNK) return;
    }
  }

  /** Reads the added keys' vectors (one HMGET) and applies the steps to the copy in order, runs of adds in bulk. */
  private async applyFromRedis(b: Block, shard: Keys, category: string, steps: readonly LogStep[]): Promise<void> {
    const added = [...new Set(steps.filter(([, removed]) => !removed).map(([k]) => k))];
    const vecs = added.length > 0 ? await this.redis.hmgetBuffer(this.vecKey(shard, category), ...added) : [];
    const byKey = new Map(added.map((k, j) => [k, vecs[j]]));
    let run: [string, Float32Array, number | undefined][] = [];
    const flush = () => {
      if (run.length === 0) return;
      b.index ??= this.newBlock(run[0]![1].length);
      b.index.addAll(run);
      run = [];
    };
    for (const [k, removed] of steps) {
      if (removed) {
        flush();
        b.index?.remove(k);
        continue;
      }
      // Not in the hash any more (moved since): its removal marker follows in the log.
      const v = byKey.get(k);
      if (!v) continue;
      const { vec, filed } = storedVector(v);
      run.push([k, vec, filed && filed.centroids === b.shared ? filed.list : undefined]);
    }
    flush();
  }

  /**
   * The most similar vector in `category` other than `key`'s own, on the local int8 copy
   * (vector-index.ts). With a `threshold`, a decision the codes leave open (the best score within
   * its error bound of the threshold) is marked with the candidates that may reach it, for
   * `settle` to score exactly.
   */
  lookup(category: string, vec: Float32Array, key: string, threshold?: number): Lookup {
    const block = this.block(category).index;
    const found = block?.nearest(vec, key);
    const l: Lookup = { category, vec, ...(found ? { hit: { key: found.key, score: found.score } } : {}) };
    if (!block || !found || threshold === undefined) return l;
    const bound = block.errorBound(vec);
    if (found.score - found.bound < threshold && found.score + bound >= threshold) l.open = block.within(vec, threshold - bound, REFINE_MAX, key);
    return l;
  }

  /**
   * Settle the open lookups on the float32 vectors Redis keeps: one HMGET per category and shard
   * for all of them (a batch's worth), so whether each hit reaches the threshold is what float32
   * vectors would say. Call after the batch's `add`s were sent: a candidate added earlier in the
   * batch is then in Redis (same connection, in order).
   */
  async settle(lookups: readonly Lookup[]): Promise<void> {
    const open = lookups.filter((l) => l.open !== undefined && l.open.length > 0);
    if (open.length === 0) return;
    const wanted = new Map<string, Set<string>>();
    for (const l of open) {
      let keys = wanted.get(l.category);
      if (!keys) wanted.set(l.category, (keys = new Set()));
      for (const k of l.open!) keys.add(k);
    }
    const exact = new Map<string, { vecs: Map<string, Float32Array>; unanswered: Set<string> }>();
    await Promise.all([...wanted].map(async ([category, keys]) => exact.set(category, await this.exactVectors(category, [...keys]))));
    for (const l of open) {
      const { vecs, unanswered } = exact.get(l.category)!;
      // A best hit on a shard that did not answer in time keeps its int8 score: others must beat it.
      let best = l.hit && unanswered.has(l.hit.key) ? l.hit.score : -Infinity;
      for (const k of l.open!) {
        const v = vecs.get(k);
        if (!v) continue;
        const score = dot(v, 0, l.vec, 0, l.vec.length);
        if (score > best) [best, l.hit] = [score, { key: k, score }];
      }
      delete l.open;
    }
  }

  /** `lookup` and `settle` for one vector. */
  async nearest(category: string, vec: Float32Array, key: string, threshold?: number): Promise<{ key: string; score: number } | undefined> {
    const l = this.lookup(category, vec, key, threshold);
    await this.settle([l]);
    return l.hit;
  }

  /** The float32 vectors of `keys` in `category` as Redis holds them (missing keys left out), and the keys whose shard did not answer in time. */
  private async exactVectors(category: string, keys: readonly string[]): Promise<{ vecs: Map<string, Float32Array>; unanswered: Set<string> }> {
    const byShard = new Map<number, string[]>();
    for (const k of keys) {
      const s = this.shards.shardOf(k);
      let ks = byShard.get(s);
      if (!ks) byShard.set(s, (ks = []));
      ks.push(k);
    }
    const out = new Map<string, Float32Array>();
    const unanswered = new Set<string>();
    await Promise.all(
      [...byShard].map(async ([s, ks]) => {
        const raw = await this.waits.value(s, () => this.redis.hmgetBuffer(this.vecKey(this.shards.all[s]!, category), ...ks));
        ks.forEach((k, j) => {
          if (!raw) unanswered.add(k);
          else if (raw[j]) out.set(k, storedVector(raw[j]).vec);
        });
      }),
    );
    return { vecs: out, unanswered };
  }

  /** The shards that did not answer in time and have not answered since (shard-waits.ts). */
  behindShards(): number[] {
    return this.shards.all.flatMap((_, s) => (this.waits.isBehind(s) ? [s] : []));
  }

  /** How far into shard `s`'s key log of `category` this copy has read. */
  position(category: string, s: number): number {
    return this.block(category).loaded[s]!;
  }

  /** Whether this copy of `category` is up to date with shard `s`: not behind, no sync of it still running late, and caught up at least `settleMs` ago. */
  caughtUp(category: string, s: number, settleMs = 0): boolean {
    return !this.waits.isBehind(s) && !this.waits.lagging(`${category}\0${s}`) && this.waits.sinceCaughtUp(s) >= settleMs;
  }

  /** `work` on shard `s`, waited for at most `shardWaitMs`: undefined when the shard is behind, errs transiently or overruns. */
  onShard<T>(s: number, work: () => Promise<T>): Promise<T | undefined> {
    return this.waits.value(s, work);
  }

  /**
   * The vectors shard `s` logged for `category` between log positions `from` and `to` (float32,
   * as Redis holds them), SYNC_CHUNK at a time; undefined when the shard does not answer in time.
   */
  async window(category: string, s: number, from: number, to: number): Promise<[string, Float32Array][] | undefined> {
    const keys = this.shards.all[s]!;
    const out: [string, Float32Array][] = [];
    for (let at = from; at < to; at += SYNC_CHUNK) {
      const entries = await this.waits.value(s, () => this.redis.lrange(this.logKey(keys, category), at, Math.min(to, at + SYNC_CHUNK) - 1));
      if (!entries) return undefined;
      if (entries.length === 0) break;
      // A removal marker names no vector; a key moved away since is no longer in the hash.
      const logged = entries.filter((k) => !isRemoval(k));
      if (logged.length === 0) continue;
      const raw = await this.waits.value(s, () => this.redis.hmgetBuffer(this.vecKey(keys, category), ...logged));
      if (!raw) return undefined;
      logged.forEach((k, j) => raw[j] && out.push([k, storedVector(raw[j]).vec]));
    }
    return out;
  }

  /** The id of the shared centroids this copy of `category` is filed under, null while it has none. */
  sharedCentroids(category: string): number | null {
    return this.block(category).shared;
  }

  /** Closes every category's block (their spill files); the store is not usable after. */
  close(): void {
    this.waits.close();
    for (const b of this.blocks.values()) b.index?.close();
    this.blocks.clear();
  }

  /** Products in the local copy of `category`. */
  size(category: string): number {
    return this.block(category).index?.size ?? 0;
  }

  /**
   * Add locally at once (later messages of the same batch see it) and persist for the others.
   * Resolves 1 if it was new or changed, 0 if Redis had the same vector, undefined if the shard's
   * master did not answer within `shardWaitMs` (the write goes on in the background until it lands).
   */
  add(category: string, key: string, vec: Float32Array): Promise<unknown> {
    const b = this.block(category);
    b.index ??= this.newBlock(vec.length);
    const list = b.index.add(key, vec);
    // Under one category only: dropped from this copy's others at once (the batch's later lookups run before the write returns).
    for (const [c, other] of this.blocks) if (c !== category) other.index?.remove(key);
    const s = this.shards.shardOf(key);
    const keys = this.shards.all[s]!;
    // Logged only when new or changed (vector-add-N.lua): a reprocessed product does not grow the log.
    const bytes = b.shared !== null && list >= 0 ? vectorFiled(vec, { centroids: b.shared, list }) : vectorToBuffer(vec);
    const at = { vectors: this.vecKey(keys, category), log: this.logKey(keys, category), record: this.recordKey(keys), product: keys.product(key) };
    const keysOf = (c: string) => ({ vectors: this.vecKey(keys, c), log: this.logKey(keys, c) });
    return this.waits.write(s, async () => {
      const { logged } = await addVector(this.redis, at, keysOf, key, bytes, category);
      if (logged === 1) b.own[s]!.set(key, (b.own[s]!.get(key) ?? 0) + 1);
      return logged;
    });
  }
}
