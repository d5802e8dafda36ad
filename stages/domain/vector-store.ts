import type { Redis } from 'ioredis';
import type { Keys } from '../../lib/redis/keys.js';
import { Script } from '../../lib/redis/script.js';
import { Shards } from '../../lib/redis/shard.js';
import { bufferToVector, INDEX_DEFAULTS, VectorBlock, vectorToBuffer, type IndexOptions } from './vector-index.js';

/** Keys read per HMGET when catching up, so no single command carries a whole category. */
const SYNC_CHUNK = 1000;
const vectorAdd = new Script('vector-add-2');

interface Block {
  index?: VectorBlock;
  /** How far into the category's key log this copy has read, per shard. */
  loaded: number[];
  /**
   * Log entries this worker wrote itself and has not read past yet, per shard: key → count.
   * Their vectors are in the local copy already, so a sync skips them instead of reading them
   * back (the match stage's largest Redis read when one worker adds most of the vectors).
   */
  own: Map<string, number>[];
}

/**
 * Product vectors by category, kept in Redis next to the products (`{p}:vectors:<category>`:
 * hash of key → little-endian float32 bytes; `{p}:vectors:<category>:log`: keys in arrival order)
 * with an in-memory copy per category that reads only what was added since its last sync. Every
 * match worker sees what the others added; a key added twice simply replaces its vector.
 * With shards, a vector is written under its product's shard (`{p:3}:vectors:<category>`), so
 * writes spread like the products, and each sync reads every shard's log: matching still
 * compares against the whole category.
 */
export class VectorStore {
  private readonly blocks = new Map<string, Block>();
  private readonly shards: Shards;

  constructor(
    private readonly redis: Redis,
    keys: Keys | Shards,
    private readonly index: IndexOptions = INDEX_DEFAULTS,
  ) {
    this.shards = Shards.of(keys);
  }

  private vecKey(keys: Keys, category: string) {
    return keys.extra(`vectors:${category}`);
  }
  private logKey(keys: Keys, category: string) {
    return keys.extra(`vectors:${category}:log`);
  }

  private block(category: string): Block {
    let b = this.blocks.get(category);
    if (!b) this.blocks.set(category, (b = { loaded: this.shards.all.map(() => 0), own: this.shards.all.map(() => new Map()) }));
    return b;
  }

  /** Catch up with vectors other workers added to `category` (on every shard). */
  async sync(category: string): Promise<void> {
    const b = this.block(category);
    await Promise.all(this.shards.all.map((shard, s) => this.syncShard(b, shard, s, category)));
  }

  private async syncShard(b: Block, shard: Keys, s: number, category: string): Promise<void> {
    const logged = await this.redis.lrange(this.logKey(shard, category), b.loaded[s]!, -1);
    const own = b.own[s]!;
    const keys = logged.filter((k) => {
      const n = own.get(k);
      if (n === undefined) return true;
      if (n <= 1) own.delete(k);
      else own.set(k, n - 1);
      return false;
    });
    for (let i = 0; i < keys.length; i += SYNC_CHUNK) {
      const chunk = keys.slice(i, i + SYNC_CHUNK);
      const vecs = await this.redis.hmgetBuffer(this.vecKey(shard, category), ...chunk);
      chunk.forEach((k, j) => {
        const v = vecs[j];
        if (!v) return;
        const vec = bufferToVector(v);
        b.index ??= new VectorBlock(vec.length, 1024, this.index);
        b.index.add(k, vec);
      });
    }
    b.loaded[s]! += logged.length;
  }

  /** The most similar vector in `category` other than `key`'s own. */
  nearest(category: string, vec: Float32Array, key: string): { key: string; score: number } | undefined {
    return this.block(category).index?.nearest(vec, key);
  }

  /** Products in the in-memory copy of `category`. */
  size(category: string): number {
    return this.block(category).index?.size ?? 0;
  }

  /** Add locally at once (later messages of the same batch see it) and persist for the others. Resolves 1 if it was new or changed, 0 if Redis had the same vector. */
  add(category: string, key: string, vec: Float32Array): Promise<unknown> {
    const b = this.block(category);
    b.index ??= new VectorBlock(vec.length, 1024, this.index);
    b.index.add(key, vec);
    const s = this.shards.shardOf(key);
    const keys = this.shards.all[s]!;
    // Logged only when new or changed (vector-add-2.lua): a reprocessed product does not grow the log.
    return vectorAdd.run<number>(this.redis, [this.vecKey(keys, category), this.logKey(keys, category)], [key, vectorToBuffer(vec)]).then((logged) => {
      if (logged === 1) b.own[s]!.set(key, (b.own[s]!.get(key) ?? 0) + 1);
      return logged;
    });
  }
}
