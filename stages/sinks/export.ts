import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type pg from 'pg';
import type { ResolvedConfig, ResolvedStage } from '../../lib/config/types.js';
import { backoffMs, sleep } from '../../lib/core/backoff.js';
import { ConfigError } from '../../lib/core/errors.js';
import { isTransientPgError } from '../../lib/core/failure-policy.js';
import type { RetrySettings } from '../../lib/producer/retry.js';
import { quoteSchema } from './migrations/migrate.js';

import type { ExportedProduct, ExportFilter } from './exported-product.js';

export { readRedisProduct, redisProducts, type GoneTally } from './export-redis.js';
export type { ExportedProduct, ExportFilter } from './exported-product.js';

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
