import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { ResolvedConfig, ResolvedStage } from '../../lib/config/types.js';
import { backoffMs, sleep } from '../../lib/core/backoff.js';
import { ConfigError } from '../../lib/core/errors.js';
import { isTransientPgError } from '../../lib/core/failure-policy.js';
import type { Keys } from '../../lib/redis/keys.js';
import { withRetry, type RetrySettings } from '../../lib/producer/retry.js';
import { Shards } from '../../lib/redis/shard.js';
import { quoteSchema } from './migrations/migrate.js';

/** Which stored products to export. */
export interface ExportFilter {
  /** Only this category. @defaultValue every category */
  category?: string;
  /** Only products stored at or after this time (ms since epoch). @defaultValue no limit */
  since?: number;
}

/** One exported line: the same shape whichever sink it comes from. */
export interface ExportedProduct {
  key: string;
  category: string;
  brand: string | null;
  mpn: string | null;
  gtin: string | null;
  gtinValid: boolean | null;
  duplicateOf: string | null;
  /** Distinct store-stream entries that wrote the key (1 = stored once). */
  copies: number;
  entryId: string;
  traceId: string;
  producedAt: string | null;
  storedAt: string;
  /** The stored version: the record's input-stream entry id (`origin`, "ms-seq") by which newest wins; null when stored without one. */
  version: string | null;
  /** The whole record: input, every stage output, route, models, timings. */
  doc: Record<string, unknown>;
}

/** The store stage of the config: `name` if given, else the only (or first) stage of kind `store`. */
export function findStoreStage(config: ResolvedConfig, name?: string): ResolvedStage {
  const stores = config.stages.filter((s) => (name ? s.name === name : s.kind === 'store'));
  const stage = stores[0];
  if (!stage) throw new ConfigError('stages', name ? `no stage named ${JSON.stringify(name)}` : 'no stage of kind "store"');
  return stage;
}

const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;
const AGO = /^(\d+)(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * `--since` value → ms since epoch: an ISO-8601 date or time (a date alone is UTC midnight, a time
 * without an offset local time) or an age (`90m`, `24h`, `7d`: that long before `now`). Anything
 * else is refused: `Date.parse` had read `7` as July 2001 and `2024-02-30` as 1 March, and widened
 * what export and reprocess selected.
 */
export function parseSince(value: string, now = Date.now()): number {
  const v = value.trim();
  const ago = AGO.exec(v);
  if (ago) return now - Number(ago[1]) * UNIT_MS[ago[2]!]!;
  const m = ISO_TIME.exec(v);
  const ms = m ? Date.parse(v) : NaN;
  const [y, mo, d, h = '0', mi = '0', sec = '0'] = (m ?? []).slice(1);
  // Each part in its range: no day 30 of February, no hour 24 (Date would roll them over).
  const date = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
  const inRange =
    date.getUTCFullYear() === Number(y) && date.getUTCMonth() === Number(mo) - 1 && date.getUTCDate() === Number(d) && +h < 24 && +mi < 60 && +sec < 60;
  if (!m || !inRange || Number.isNaN(ms))
    throw new Error(
      `--since: not a time: ${JSON.stringify(value)} (an ISO-8601 date or time, e.g. 2024-05-01 or 2024-05-01T12:00:00Z, or an age: 90m, 24h, 7d)`,
    );
  return ms;
}

const orNull = (v: string | undefined) => (v === undefined || v === '' ? null : v);
const isoOrNull = (ms: unknown) => (typeof ms === 'number' && Number.isFinite(ms) ? new Date(ms).toISOString() : null);

/** A product hash of the redis sink → an export line. */
function fromRedisHash(key: string, h: Record<string, string>): ExportedProduct {
  const doc = JSON.parse(h.doc ?? '{}') as Record<string, unknown>;
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
    storedAt: new Date(Number(h.storedAt)).toISOString(),
    version: orNull(h.version),
    doc,
  };
}

/**
 * Stored products of the redis sink: SSCAN over the products set (or one category's set), one
 * pipelined HGETALL round per page. Memory holds one page. As with any SSCAN, a key may come twice
 * if the set is resized during the export (lines are keyed by `key`: load them as an upsert).
 * A sharded pipeline is read shard after shard (each shard's keys share one slot, so each page's
 * pipeline goes to one cluster node). `retry`: a page Redis refuses (a failover, a dropped
 * connection, OOM) is read again, same cursor, within `retry.retryForMs` (lib/producer/retry.ts
 * `withRetry`); without it the first error ends the scan.
 */
export async function* redisProducts(
  redis: Redis,
  keys: Keys | Shards,
  filter: ExportFilter = {},
  pageSize = 500,
  retry?: RetrySettings,
  tally?: GoneTally,
): AsyncGenerator<ExportedProduct> {
  for (const shard of Shards.of(keys).all) yield* shardProducts(redis, shard, filter, pageSize, retry, tally);
}

/**
 * Counts what the scan passed over unread: `gone`, members of the products set whose hash was gone
 * when their page was read (deleted since SSCAN listed them, or a member whose hash a lost write
 * never kept). Not exported, so said: `export` warns, `reprocess` counts them in `skipped.gone`.
 */
export interface GoneTally {
  gone: number;
}

async function* shardProducts(
  redis: Redis,
  keys: Keys,
  filter: ExportFilter,
  pageSize: number,
  retry?: RetrySettings,
  tally?: GoneTally,
): AsyncGenerator<ExportedProduct> {
  const set = filter.category !== undefined ? keys.category(filter.category) : keys.products;
  /** One page: the SSCAN step from `cursor` and every member's hash. */
  const readPage = async (cursor: string): Promise<[string, string[], Record<string, string>[]]> => {
    const [next, members] = await redis.sscan(set, cursor, 'COUNT', pageSize);
    if (members.length === 0) return [next, members, []];
    const batch = redis.pipeline();
    for (const k of members) batch.hgetall(keys.product(k));
    const replies = (await batch.exec()) ?? [];
    const hashes = members.map((_, i) => {
      const [err, h] = replies[i] ?? [new Error('no reply')];
      if (err) throw err;
      return h as Record<string, string>;
    });
    return [next, members, hashes];
  };
  let cursor = '0';
  do {
    const [next, members, hashes] = retry ? await withRetry(redis, () => readPage(cursor), retry) : await readPage(cursor);
    cursor = next;
    for (let i = 0; i < members.length; i++) {
      const hash = hashes[i]!;
      if (Object.keys(hash).length === 0) {
        if (tally) tally.gone++;
        continue;
      }
      if (filter.category !== undefined && hash.category !== filter.category) continue; // moved to another category
      if (filter.since !== undefined && !(Number(hash.storedAt) >= filter.since)) continue;
      yield fromRedisHash(members[i]!, hash);
    }
  } while (cursor !== '0');
}

interface ProductRow {
  key: string;
  category: string;
  brand: string | null;
  mpn: string | null;
  gtin: string | null;
  gtin_valid: boolean | null;
  duplicate_of: string | null;
  doc: Record<string, unknown>;
  entry_id: string;
  trace_id: string;
  copies: number;
  produced_at: Date | null;
  stored_at: Date;
  version: string | null;
}

const COLUMNS = 'key, category, brand, mpn, gtin, gtin_valid, duplicate_of, doc, entry_id, trace_id, copies, produced_at, stored_at, version';

/** The postgres column keeps the version zero-padded to sort as text (migration 002): back to "ms-seq". */
const unpadVersion = (v: string | null): string | null => (v === null ? null : v.replace(/^0+(?=\d)/, '').replace(/-0+(?=\d)/, '-'));

/** A row of the postgres sink → an export line. */
function fromRow(r: ProductRow): ExportedProduct {
  return {
    key: r.key,
    category: r.category,
    brand: r.brand,
    mpn: r.mpn,
    gtin: r.gtin,
    gtinValid: r.gtin_valid,
    duplicateOf: r.duplicate_of,
    copies: r.copies,
    entryId: r.entry_id,
    traceId: r.trace_id,
    producedAt: r.produced_at ? r.produced_at.toISOString() : null,
    storedAt: r.stored_at.toISOString(),
    version: unpadVersion(r.version),
    doc: r.doc,
  };
}

/**
 * Stored products of the postgres sink, by keyset pagination on the primary key (`key > last
 * ORDER BY key LIMIT page`): each page is one short query, memory holds one page, and rows are
 * neither skipped nor repeated while the table is being written. `retry`: once a page has been
 * read, a page the database refuses for a while (a restart, a failover: `isTransientPgError`) is
 * queried again, same key, with backoff within `retry.retryForMs` (as `redisProducts` rides out a
 * Redis failover; the run had failed at a restart). The first page is not retried: a database
 * this run never reached is a setting to fix, said at once. Without it the first error ends the scan.
 */
export async function* postgresProducts(
  pool: pg.Pool,
  schema: string,
  filter: ExportFilter = {},
  pageSize = 500,
  retry?: RetrySettings,
): AsyncGenerator<ExportedProduct> {
  const where: string[] = ['key > $1'];
  const params: unknown[] = [''];
  if (filter.category !== undefined) {
    params.push(filter.category);
    where.push(`category = $${params.length}`);
  }
  if (filter.since !== undefined) {
    params.push(new Date(filter.since));
    where.push(`stored_at >= $${params.length}`);
  }
  params.push(pageSize);
  const sql = `SELECT ${COLUMNS} FROM ${quoteSchema(schema)}.products WHERE ${where.join(' AND ')} ORDER BY key LIMIT $${params.length}`;
  let reached = false;
  const readPage = async () => {
    let failingSince = 0;
    for (let attempt = 1; ; attempt++) {
      try {
        const page = await pool.query<ProductRow>(sql, params);
        reached = true;
        return page;
      } catch (err) {
        const budget = retry?.retryForMs ?? 0;
        failingSince ||= Date.now();
        if (!reached || !isTransientPgError(err) || Date.now() - failingSince >= budget) throw err;
        retry?.onRetry?.(err, Date.now() - failingSince, budget);
        await sleep(backoffMs(attempt, retry?.retryBaseMs ?? 100, retry?.retryMaxMs ?? 5_000));
      }
    }
  };
  for (;;) {
    const { rows } = await readPage();
    for (const r of rows) yield fromRow(r);
    if (rows.length < pageSize) return;
    params[0] = rows[rows.length - 1]!.key;
  }
}

/**
 * Write products as JSON lines, honouring backpressure (waits for `drain`), so memory stays one
 * page whatever the output's speed. `onProgress` is called with the running count every `every`
 * lines and at the end. Returns how many lines were written.
 */
export async function writeJsonl(products: AsyncIterable<ExportedProduct>, out: Writable, onProgress?: (n: number) => void, every = 1000): Promise<number> {
  let n = 0;
  let failed: Error | undefined;
  const onError = (err: Error) => (failed = err);
  out.on('error', onError);
  try {
    for await (const p of products) {
      if (failed) throw failed;
      if (!out.write(JSON.stringify(p) + '\n')) await once(out, 'drain'); // rejects if the output fails meanwhile
      if (++n % every === 0) onProgress?.(n);
    }
    if (failed) throw failed;
  } finally {
    out.off('error', onError);
  }
  onProgress?.(n);
  return n;
}

/** One stored product of the redis sink by key, as an export line (null: not stored). One HGETALL. */
export async function readRedisProduct(redis: Redis, keys: Keys | Shards, key: string): Promise<ExportedProduct | null> {
  const h = await redis.hgetall(Shards.of(keys).keysFor(key).product(key));
  return Object.keys(h).length > 0 ? fromRedisHash(key, h) : null;
}

/** One stored product of the postgres sink by key (primary-key lookup), as an export line (null: not stored). */
export async function readPostgresProduct(pool: pg.Pool, schema: string, key: string): Promise<ExportedProduct | null> {
  const { rows } = await pool.query<ProductRow>(`SELECT ${COLUMNS} FROM ${quoteSchema(schema)}.products WHERE key = $1`, [key]);
  const r = rows[0];
  return r ? fromRow(r) : null;
}

/**
 * Stored products of the postgres sink by key, in one query (`key = ANY($1)`, primary-key
 * lookups), as export lines by key; keys not stored are absent. The console's recent list reads a
 * page with it (it had made one query per product).
 */
export async function readPostgresProducts(pool: pg.Pool, schema: string, keys: readonly string[]): Promise<Map<string, ExportedProduct>> {
  if (keys.length === 0) return new Map();
  const { rows } = await pool.query<ProductRow>(`SELECT ${COLUMNS} FROM ${quoteSchema(schema)}.products WHERE key = ANY($1::text[])`, [keys]);
  return new Map(rows.map((r) => [r.key, fromRow(r)]));
}
