import { ConfigError } from '../core/errors.js';
import { Keys } from './keys.js';

/**
 * Shards: a pipeline configured with N > 1 shards keeps N complete sets of its keys, one per hash
 * tag (`{products:0}:classify`, `{products:0}:dlq`, `{products:0}:product:<key>`, ...), so each
 * shard's atomic hand-offs stay in one Redis Cluster slot while the shards spread over the
 * masters. N = 1 keeps the unsharded names (`{products}:...`). A record's shard is a stable hash
 * of its key: one product always goes to the same shard, so its upserts stay in order.
 */

/** FNV-1a, 32 bits, over `s`'s UTF-8 bytes (or the bytes given). Stable across processes, versions and platforms. */
export function fnv1a32(s: string | Uint8Array): number {
  const bytes = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  return fnv1a32Range(bytes, 0, bytes.length);
}

/** FNV-1a (32 bits) of `bytes[start, end)`: a key held in a larger buffer, hashed without a copy. */
export function fnv1a32Range(bytes: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    h ^= bytes[i]!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The shard (0..n-1) of a record key: FNV-1a of the key modulo n. */
export function shardOf(key: string, n: number): number {
  return n <= 1 ? 0 : fnv1a32(key) % n;
}

/** CRC16/XMODEM, as Redis Cluster hashes keys. */
function crc16(buf: Buffer): number {
  let crc = 0;
  for (const byte of buf) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The Redis Cluster slot of a key (what CLUSTER KEYSLOT answers): CRC16 of its hash tag, or of the whole key without one, mod 16384. */
export function keySlot(key: string): number {
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) key = key.slice(open + 1, close);
  }
  return crc16(Buffer.from(key, 'utf8')) % 16384;
}

/**
 * A shard list as `--shards 0,2` or WORKER_SHARDS give it (`0,2`, `1-3`, `0,4-7`; empty or `all` =
 * every shard), checked against `n`. Sorted, without repeats.
 */
export function parseShardList(spec: string | undefined, n: number, where = 'shards'): number[] {
  const all = Array.from({ length: n }, (_, i) => i);
  if (spec === undefined || spec.trim() === '' || spec.trim() === 'all') return all;
  const out = new Set<number>();
  for (const part of spec
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new ConfigError(where, `expected shard numbers like 0,2 or 1-3, got ${JSON.stringify(part)}`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from || to >= n) throw new ConfigError(where, `shard ${part} is outside 0..${n - 1} (the pipeline has ${n} shard${n === 1 ? '' : 's'})`);
    for (let i = from; i <= to; i++) out.add(i);
  }
  return [...out].sort((a, b) => a - b);
}

/**
 * Every shard's Keys of a pipeline, and the way from a record key to its shard. With one shard it
 * holds the unsharded Keys (`{products}`), so code written against it serves both layouts.
 */
export class Shards {
  readonly all: readonly Keys[];

  constructor(
    readonly pipeline: string,
    readonly count = 1,
  ) {
    if (!Number.isInteger(count) || count < 1) throw new ConfigError('shards', `expected an integer >= 1, got ${count}`);
    this.all = Keys.shards(pipeline, count);
  }

  /** The key space of one Keys (a single, unsharded pipeline): every record maps to it. */
  static of(keys: Keys | Shards): Shards {
    if (keys instanceof Shards) return keys;
    const s = new Shards(keys.pipeline, 1);
    (s as { all: readonly Keys[] }).all = [keys];
    return s;
  }

  /** Shard number of a record key. */
  shardOf(recordKey: string): number {
    return shardOf(recordKey, this.count);
  }

  /** The Keys of the shard a record belongs to (where its entries flow and its product is stored). */
  keysFor(recordKey: string): Keys {
    return this.all[this.shardOf(recordKey)]!;
  }

  /** The Keys of shard `i`. */
  shard(i: number): Keys {
    const k = this.all[i];
    if (!k) throw new ConfigError('shards', `no shard ${i} (the pipeline has ${this.count})`);
    return k;
  }
}

/** The shards of a loaded config (`shards`, env PIPELINE_SHARDS; an older config object without it has one). */
export function configShards(config: { pipeline: string; shards?: number }): Shards {
  return new Shards(config.pipeline, config.shards ?? 1);
}

/**
 * The key space a stage instance serves: a stage instance is shared by every shard its worker
 * reads, so data keys (store products, match vectors) are found per record with `keysFor(key)`,
 * the shard the producer put the record on. Unsharded: the context's own keys.
 */
export function stageKeySpace(ctx: { config: { pipeline: string; shards?: number }; keys: Keys }): Shards {
  return (ctx.config.shards ?? 1) > 1 ? configShards(ctx.config) : Shards.of(ctx.keys);
}
