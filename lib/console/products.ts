import type { Redis } from 'ioredis';
import type { ResolvedConfig } from '../config/types.js';
import type { Keys } from '../redis/keys.js';
import { compareIds } from '../stream/stream-id.js';
import { Shards } from '../redis/shard.js';
import { decodeEnvelope, entryFields, type Envelope } from '../stream/codec.js';
import { toEntries } from '../stream/entries.js';
import { scanDeadLetters, decodeDeadLetter } from '../ops/dlq.js';
import { hopTimings, type HopTiming } from './hops.js';
import { storedLookup, type StoredLookup } from './stored.js';
import { readStatus } from '../stream/status-value.js';
import { FINAL_STATUSES } from '../stream/done.js';

/** Where a product is now, as far as Redis still tells. */
export type ProductState = 'stored' | 'in_flight' | 'review' | 'dead_lettered' | 'revoked' | 'unknown';

export interface ProductTrace {
  id: string;
  state: ProductState;
  /**
   * Its trip has ended: its state or its id's status is final (stored, review, dead_lettered, revoked),
   * so a revoke changes nothing (409) unless forced: the console offers Revoke anyway.
   */
  tripEnded: boolean;
  /** How its last trip ended (stored, review, dead_lettered, revoked), when it has: what Revoke anyway's confirmation names. */
  lastEnd?: string;
  /** Stored: the indexed fields (category, brand, mpn, ..., reviewedBy, storedAt). */
  stored?: Record<string, string>;
  /** Stages visited, in order, with wait and batch times. */
  hops: HopTiming[];
  /** Each stage's output, by stage. */
  outputs: Record<string, unknown>;
  input?: Record<string, unknown>;
  producedAt?: number;
  /** Where it waits now (in flight / review): stream and entry id. */
  at?: { stream: string; entry: string }[];
  deadLetters: { id: string; stage: string; reason: string; error: string }[];
  /** Revoked (`pipeline revoke`) and not stored: where it was stopped, by whom, why (from its status). */
  revoked?: { stage: string; by: string; reason?: string; at: number };
  /** How many of the newest dead letters were read for this product, and whether that was all of them. */
  deadLettersSearched?: { scanned: number; complete: boolean };
}

/** Newest `scan` entries of a stream whose key field is `id`, decoded. */
async function findInStream(redis: Redis, key: string, id: string, scan: number): Promise<{ entry: string; env?: Envelope }[]> {
  const reply = (await redis.xrevrangeBuffer(key, '+', '-', 'COUNT', scan)) as unknown as [Buffer, Buffer[] | null][];
  const out: { entry: string; env?: Envelope }[] = [];
  for (const e of toEntries(reply)) {
    const f = entryFields(e.fields);
    if (f.key !== id) continue;
    let env: Envelope | undefined;
    try {
      env = f.payload ? decodeEnvelope(f.payload) : undefined;
    } catch {
      env = undefined; // shown as found, without its envelope
    }
    out.push({ entry: e.id, env });
  }
  return out;
}

/** The Redis sink's lookup (the product hash, on the product's shard): the default where no other is given. */
const redisLookup = (redis: Redis, space: Keys | Shards): StoredLookup =>
  storedLookup(
    'redis',
    (id) => redis.hgetall(Shards.of(space).keysFor(id).product(id)),
    async () => null,
  );

/**
 * One product's trip (`keys`: the product's shard's, `shards.keysFor(id)`): the stored document (from the store's sink: `lookup`, the Redis hash by
 * default) with its hops and every stage's output; else its newest envelope on a stage or terminal
 * stream (the newest `scan` entries of each are searched); its dead letters (the DLQ entries of
 * that key among the newest `dlqScanLimit`, at most 50).
 */
export async function traceProduct(
  redis: Redis,
  config: ResolvedConfig,
  keys: Keys,
  id: string,
  scan = 1000,
  dlqScanLimit = 10_000,
  lookup: StoredLookup = redisLookup(redis, keys),
): Promise<ProductTrace> {
  const out: ProductTrace = { id, state: 'unknown', tripEnded: false, hops: [], outputs: {}, deadLetters: [] };
  const stored = await lookup(id);
  let env: Pick<Envelope, 'hops' | 'outputs' | 'producedAt' | 'input'> | undefined;
  if (stored) {
    out.stored = stored.fields;
    out.state = 'stored';
    const d = (stored.doc ?? {}) as Partial<Envelope>;
    if (Array.isArray(d.hops) && typeof d.producedAt === 'number') env = { hops: d.hops, outputs: d.outputs ?? {}, producedAt: d.producedAt, input: d.input! };
  }
  const streams = [...new Set([...config.stages.map((s) => s.input), ...config.streams.terminal])];
  const found = await Promise.all(streams.map(async (s) => ({ s, hits: await findInStream(redis, keys.stream(s), id, scan) })));
  const live = found.filter((f) => f.hits.length);
  if (live.length) {
    out.at = live.map((f) => ({ stream: f.s, entry: f.hits[0]!.entry }));
    // The newest envelope: the one that went furthest.
    const newest = live
      .flatMap((f) => f.hits.map((h) => h.env))
      .filter((e): e is Envelope => !!e)
      .sort((a, b) => b.hops.length - a.hops.length)[0];
    if (!env && newest) env = newest;
    if (out.state !== 'stored') out.state = live.some((f) => config.streams.terminal.includes(f.s)) ? 'review' : 'in_flight';
  }
  // This product's dead letters in the DLQ (the first 50 entries had been read, then filtered: a product
  // dead-lettered later showed as "unknown"), newest first and at most dlqScanLimit entries read (a whole
  // DLQ of 200,000 had been read per trace).
  const dead = await scanDeadLetters(redis, keys, { count: 50, key: id, newestFirst: true, scanLimit: dlqScanLimit });
  out.deadLettersSearched = { scanned: dead.scanned, complete: dead.complete };
  for (const d of dead.entries) {
    out.deadLetters.push({ id: d.id, stage: d.stage, reason: d.reason, error: d.error });
    if (!env) env = decodeDeadLetter(d).envelope;
  }
  if (out.state === 'unknown' && out.deadLetters.length) out.state = 'dead_lettered';
  // A revoked record's entries stay in the streams it was acked from until trimmed: its status says it ended.
  const status = out.state === 'stored' ? {} : await readStatus(redis, keys.status(id));
  if (status.s === 'revoked') {
    out.state = 'revoked';
    out.revoked = { stage: status.g ?? '', by: status.b ?? 'unknown', ...(status.r ? { reason: status.r } : {}), at: Number(status.t ?? 0) };
  }
  out.tripEnded = FINAL_STATUSES.has(out.state) || FINAL_STATUSES.has(status.s ?? '');
  // A version sent again reads in_flight while the status still says how the last trip ended.
  if (out.tripEnded) out.lastEnd = FINAL_STATUSES.has(out.state) ? out.state : status.s;
  if (env) {
    out.hops = hopTimings(env);
    out.outputs = env.outputs;
    out.input = env.input;
    out.producedAt = env.producedAt;
  }
  return out;
}

export interface RecentProduct {
  id: string;
  category?: string;
  brand?: string;
  mpn?: string;
  confidence?: number;
  reviewedBy?: string;
  storedAt?: number;
  /** Stages it went through. */
  route: string[];
}

export interface RecentFilter {
  category?: string;
  brand?: string;
  /** A stage the product went through. */
  route?: string;
  /** Confidence from 0 to 1 (the page takes a percentage and divides). */
  minConfidence?: number;
  maxConfidence?: number;
  /** At most this many. @defaultValue 50 */
  limit?: number;
  /** Newest completions looked at. @defaultValue 500 */
  scan?: number;
}

/** A page of recent products, and how much of the completion stream was searched for it. */
export interface RecentProducts {
  products: RecentProduct[];
  /** Completions read (the newest `scan`): products stored before those are not searched. */
  scanned: number;
  /** Completions in `{p}:done` (every shard's `{p:N}:done`) in all (stored or not). */
  completions: number;
}

/** Stored products looked up at a time while filling a page of recent ones, at least (a page's `limit` when larger). */
const LOOKUP_CHUNK = 50;

/**
 * Recently stored products, newest first, from the completion stream `{p}:done` (sharded: the
 * newest `scan` over every shard's `{p:N}:done`, by entry id) and the store's
 * sink (`lookup`, the Redis hash by default); filtered (category and brand ignoring case). Only the
 * newest `scan` completions are searched: the answer says how many of how many (a filter had found
 * nothing, silently, for products stored before those). Stored products are read `max(limit, 50)`
 * at a time with `lookup.many` (one SQL query each with the Postgres sink) until the page is full.
 */
export async function recentProducts(
  redis: Redis,
  space: Keys | Shards,
  f: RecentFilter = {},
  lookup: StoredLookup = redisLookup(redis, space),
): Promise<RecentProducts> {
  const scan = f.scan ?? 500;
  const shards = Shards.of(space).all;
  const [reads, lengths] = await Promise.all([
    Promise.all(shards.map((k) => redis.xrevrange(k.done, '+', '-', 'COUNT', scan) as Promise<[string, string[]][]>)),
    Promise.all(shards.map((k) => redis.xlen(k.done))),
  ]);
  const rows =
    reads.length === 1
      ? reads[0]!
      : reads
          .flat()
          .sort((a, b) => compareIds(b[0], a[0]))
          .slice(0, scan);
  const completions = lengths.reduce((n, l) => n + l, 0);
  const ids: string[] = [];
  const seen = new Set<string>();
  for (const [, fields] of rows) {
    const m = new Map<string, string>();
    for (let i = 0; i + 1 < fields.length; i += 2) m.set(fields[i]!, fields[i + 1]!);
    const k = m.get('k');
    if (m.get('s') !== 'stored' || !k || seen.has(k)) continue;
    seen.add(k);
    ids.push(k);
  }
  const limit = f.limit ?? 50;
  const same = (a: string | undefined, b: string) => (a ?? '').toLowerCase() === b.toLowerCase();
  const out: RecentProduct[] = [];
  // A chunk at a time, until the page is full, each chunk one read (one Postgres query: it had been one per
  // product). A chunk is the page's size: an unfiltered page is one read, a filtered one at most scan / chunk.
  const size = Math.max(limit, LOOKUP_CHUNK);
  for (let at = 0; at < ids.length && out.length < limit; at += size) {
    const chunk = ids.slice(at, at + size);
    const found = await lookup.many(chunk);
    chunk.forEach((id, i) => {
      const s = found[i];
      if (!s) return; // no longer stored
      const v = s.fields;
      const route = Array.isArray(s.doc?.route) ? (s.doc.route as string[]) : [];
      const p: RecentProduct = {
        id,
        category: v.category,
        brand: v.brand,
        mpn: v.mpn,
        confidence: v.confidence === undefined ? undefined : Number(v.confidence),
        reviewedBy: v.reviewedBy,
        storedAt: v.storedAt === undefined ? undefined : Number(v.storedAt),
        route,
      };
      if (f.category && !same(p.category, f.category)) return;
      if (f.brand && !same(p.brand, f.brand)) return;
      if (f.route && !route.includes(f.route)) return;
      if (f.minConfidence !== undefined && !(p.confidence !== undefined && p.confidence >= f.minConfidence)) return;
      if (f.maxConfidence !== undefined && !(p.confidence !== undefined && p.confidence <= f.maxConfidence)) return;
      if (out.length < limit) out.push(p);
    });
  }
  return { products: out, scanned: rows.length, completions: Math.max(completions, rows.length) };
}
