/**
 * The redis sink's stored products read back: the scan of its products set (`pipeline export`,
 * `pipeline reprocess`) and one product by key (the API's GET). Lines in the shape of
 * stages/sinks/exported-product.ts `ExportedProduct`, the same whichever sink.
 */
import type { Redis } from 'ioredis';
import { DecodeError, ScanRestartsError } from '../../lib/core/errors.js';
import { isTransientRedisError } from '../../lib/core/failure-policy.js';
import { withRetry, type RetrySettings } from '../../lib/producer/retry.js';
import type { Keys } from '../../lib/redis/keys.js';
import { Shards } from '../../lib/redis/shard.js';
import type { ExportedProduct, ExportFilter } from './exported-product.js';

const orNull = (v: string | undefined) => (v === undefined || v === '' ? null : v);
const isoOrNull = (ms: unknown) => (typeof ms === 'number' && Number.isFinite(ms) ? new Date(ms).toISOString() : null);

/** A stored doc that does not parse, or parses to no object (a hand edit, a truncated restore): why, in words. */
function docProblem(doc: string | undefined): { doc: Record<string, unknown>; unreadable?: string } {
  if (doc === undefined) return { doc: {}, unreadable: 'the hash has no doc field' };
  try {
    const parsed: unknown = JSON.parse(doc);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return { doc: parsed as Record<string, unknown> };
    return { doc: {}, unreadable: `its doc is JSON but no object (${Array.isArray(parsed) ? 'an array' : parsed === null ? 'null' : typeof parsed})` };
  } catch (err) {
    return { doc: {}, unreadable: `its doc does not parse as JSON (${(err as Error).message})` };
  }
}

/**
 * A product hash of the redis sink → an export line. A hash whose doc or storedAt cannot be read
 * gives a line with `unreadable` saying why (and `doc` {}): the scan goes on past it, and the
 * command reading it counts and names it (it had ended the scan with a bare JSON error).
 */
function fromRedisHash(key: string, h: Record<string, string>): ExportedProduct {
  const { doc, unreadable: docWhy } = docProblem(h.doc);
  const storedMs = Number(h.storedAt);
  const storedOk = h.storedAt !== undefined && Number.isFinite(storedMs);
  const unreadable = docWhy ?? (storedOk ? undefined : `its storedAt is ${h.storedAt === undefined ? 'missing' : JSON.stringify(h.storedAt)}`);
  return {
    key,
    category: h.category ?? 'uncategorized',
    brand: orNull(h.brand),
    mpn: orNull(h.mpn),
    gtin: orNull(h.gtin),
    gtinValid: h.gtinValid === undefined ? null : h.gtinValid === 'true',
    duplicateOf: orNull(h.duplicateOf),
    copies: Number(h.copies ?? 1),
    entryId: h.entry ?? '',
    traceId: h.trace ?? '',
    producedAt: isoOrNull(doc.producedAt),
    storedAt: new Date(storedOk ? storedMs : 0).toISOString(),
    version: orNull(h.version),
    doc,
    ...(unreadable !== undefined ? { unreadable } : {}),
  };
}

/**
 * Stored products of the redis sink: SSCAN over the products set (or one category's set), one
 * pipelined HGETALL round per page. Memory holds one page. As with any SSCAN, a key may come twice
 * if the set is resized during the export (lines are keyed by `key`: load them as an upsert).
 * A sharded pipeline is read shard after shard (each shard's keys share one slot, so each page's
 * pipeline goes to one cluster node). `retry`: a page Redis refuses (a failover, a dropped
 * connection, OOM) is read again within `retry.retryForMs` (lib/producer/retry.ts `withRetry`);
 * without it the first error ends the scan. A page answered by another redis-server process than
 * the one that gave its cursor (a restart, a failover: ioredis resends a command after a reconnect
 * or a MOVED without a word) starts that shard's scan again from cursor 0, calling `onRescan`:
 * each process hashes with a seed of its own, so the old cursor would pass over members there.
 */
export async function* redisProducts(
  redis: Redis,
  keys: Keys | Shards,
  filter: ExportFilter = {},
  pageSize = 500,
  retry?: RetrySettings,
  tally?: GoneTally,
  onRescan?: (tag: string) => void,
): AsyncGenerator<ExportedProduct> {
  for (const shard of Shards.of(keys).all) yield* shardProducts(redis, shard, filter, pageSize, retry, tally, onRescan);
}

/**
 * Counts what the scan passed over unread: `gone`, members of the products set whose hash was gone
 * when their page was read (deleted since SSCAN listed them, or a member whose hash a lost write
 * never kept). Not exported, so said: `export` warns, `reprocess` counts them in `skipped.gone`.
 */
export interface GoneTally {
  gone: number;
}

/** A shard's scan started again more often than this fails: it would never end if its server kept changing. */
const MAX_RESCANS = 10;

async function* shardProducts(
  redis: Redis,
  keys: Keys,
  filter: ExportFilter,
  pageSize: number,
  retry?: RetrySettings,
  tally?: GoneTally,
  onRescan?: (tag: string) => void,
): AsyncGenerator<ExportedProduct> {
  const set = filter.category !== undefined ? keys.category(filter.category) : keys.products;
  /**
   * One page: the SSCAN step from `cursor`, the run_id of the process that answered it (INFO
   * server, after it on the same connection: replies come in order, so a resent SSCAN is seen),
   * and every member's hash.
   */
  const readPage = async (cursor: string): Promise<[string, string, string[], Record<string, string>[]]> => {
    const step = (await redis.pipeline().sscan(set, cursor, 'COUNT', pageSize).info('server').exec()) ?? [];
    const [scanErr, scan] = step[0] ?? [new Error('no reply')];
    if (scanErr) throw scanErr;
    const [next, members] = scan as [string, string[]];
    // A user refused INFO (an ACL of one's own) scans as before, unchecked; a connection lost is retried.
    const [infoErr, info] = step[1] ?? [new Error('no reply')];
    if (infoErr && isTransientRedisError(infoErr)) throw infoErr;
    const server = /run_id:(\w+)/.exec(String(info ?? ''))?.[1] ?? '';
    if (members.length === 0) return [next, server, members, []];
    const batch = redis.pipeline();
    for (const k of members) batch.hgetall(keys.product(k));
    const replies = (await batch.exec()) ?? [];
    const hashes = members.map((_, i) => {
      const [err, h] = replies[i] ?? [new Error('no reply')];
      if (err) throw err;
      return h as Record<string, string>;
    });
    return [next, server, members, hashes];
  };
  let cursor = '0';
  /** The process that gave `cursor`. */
  let gaveCursor = '';
  let rescans = 0;
  for (;;) {
    const [next, server, members, hashes] = retry ? await withRetry(redis, () => readPage(cursor), retry) : await readPage(cursor);
    // This page's members are the set's all the same; only its next cursor means nothing here.
    const rescan = cursor !== '0' && server !== gaveCursor;
    gaveCursor = server;
    if (rescan && ++rescans > MAX_RESCANS)
      throw new ScanRestartsError(
        `the scan of ${set} was started again ${MAX_RESCANS} times: each page came from another Redis process than the one before (restarts or failovers one after another)`,
      );
    if (rescan) onRescan?.(keys.tag);
    for (let i = 0; i < members.length; i++) {
      const hash = hashes[i]!;
      if (Object.keys(hash).length === 0) {
        if (tally) tally.gone++;
        continue;
      }
      if (filter.category !== undefined && hash.category !== filter.category) continue; // moved to another category
      // A storedAt that is no number is no time before --since: read (and named as unreadable), not passed over.
      if (filter.since !== undefined && Number(hash.storedAt) < filter.since) continue;
      yield fromRedisHash(members[i]!, hash);
    }
    if (rescan) cursor = '0';
    else if (next === '0') return;
    else cursor = next;
  }
}

/** One stored product of the redis sink by key, as an export line (null: not stored). One HGETALL. */
export async function readRedisProduct(redis: Redis, keys: Keys | Shards, key: string): Promise<ExportedProduct | null> {
  const h = await redis.hgetall(Shards.of(keys).keysFor(key).product(key));
  if (Object.keys(h).length === 0) return null;
  const p = fromRedisHash(key, h);
  if (p.unreadable !== undefined) throw new DecodeError(`stored product ${JSON.stringify(key)}: ${p.unreadable}`);
  return p;
}
