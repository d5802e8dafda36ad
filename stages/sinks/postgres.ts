import pg from 'pg';
import { POSTGRES_SETTINGS } from './postgres-settings.js';
import { markPostgres, postgresAddress } from './postgres-origin.js';
import { ConfigError, TransientError } from '../../lib/core/errors.js';
import { isTransientPgError } from '../../lib/core/failure-policy.js';
import type { Logger } from '../../lib/observe/logger.js';
import { appliedVersions, latestVersion, quoteSchema } from './migrations/migrate.js';
import type { Sink, StoredProduct } from './sink.js';

export interface PostgresOptions {
  /** postgres:// URL (user, password, host, port, database; `?sslmode=require` for TLS). */
  url: string;
  /** Schema holding `products` and `schema_migrations`. @defaultValue "public" */
  schema: string;
  /** Connections the pool may open; the store writes one batch at a time, so 1 is enough. @defaultValue 1 */
  poolSize: number;
  /** A connection attempt that takes longer fails (as a transient error). @defaultValue 5000 */
  connectTimeoutMs: number;
  /** A statement running longer is cancelled (server statement_timeout and client query timeout). @defaultValue 30000 */
  statementTimeoutMs: number;
  /** Idle pooled connections are closed after this long. @defaultValue 30000 */
  idleTimeoutMs: number;
}

export const POSTGRES_DEFAULTS: Omit<PostgresOptions, 'url'> = {
  schema: 'public',
  poolSize: 1,
  connectTimeoutMs: 5_000,
  statementTimeoutMs: 30_000,
  idleTimeoutMs: 30_000,
};

/**
 * Sink options from the store stage's settings (`postgresUrl`, `postgresSchema`, `postgresPoolSize`,
 * `postgresConnectTimeoutMs`, `postgresStatementTimeoutMs`, `postgresIdleTimeoutMs`), the URL
 * falling back to env DATABASE_URL. `where` names the settings in errors.
 */
export function postgresOptionsFrom(settings: Record<string, unknown>, env: NodeJS.ProcessEnv, where: string): PostgresOptions {
  const url = settings.postgresUrl ?? env.DATABASE_URL;
  if (typeof url !== 'string' || !/^postgres(ql)?:\/\//.test(url)) {
    throw new ConfigError(`${where}.postgresUrl`, 'the postgres sink needs a postgres:// URL in settings.postgresUrl or env DATABASE_URL');
  }
  const known: readonly string[] = POSTGRES_SETTINGS;
  for (const k of Object.keys(settings)) {
    if (k.startsWith('postgres') && !known.includes(k)) throw new ConfigError(`${where}.${k}`, `unknown postgres setting (known: ${known.join(', ')})`);
  }
  const num = (k: string, d: number) => {
    const v = settings[k];
    if (v === undefined) return d;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new ConfigError(`${where}.${k}`, `expected an integer >= 1, got ${JSON.stringify(v)}`);
    return v;
  };
  const schema = settings.postgresSchema ?? POSTGRES_DEFAULTS.schema;
  if (typeof schema !== 'string') throw new ConfigError(`${where}.postgresSchema`, 'expected a string');
  quoteSchema(schema);
  return {
    url,
    schema,
    poolSize: num('postgresPoolSize', POSTGRES_DEFAULTS.poolSize),
    connectTimeoutMs: num('postgresConnectTimeoutMs', POSTGRES_DEFAULTS.connectTimeoutMs),
    statementTimeoutMs: num('postgresStatementTimeoutMs', POSTGRES_DEFAULTS.statementTimeoutMs),
    idleTimeoutMs: num('postgresIdleTimeoutMs', POSTGRES_DEFAULTS.idleTimeoutMs),
  };
}

/** A pool with the sink's timeouts; pooled-connection errors (server gone) are logged, never thrown. */
export function createPool(o: PostgresOptions, logger: Logger, applicationName = 'pipeline'): pg.Pool {
  const pool = new pg.Pool({
    connectionString: o.url,
    max: o.poolSize,
    connectionTimeoutMillis: o.connectTimeoutMs,
    idleTimeoutMillis: o.idleTimeoutMs,
    statement_timeout: o.statementTimeoutMs,
    query_timeout: o.statementTimeoutMs + 1_000,
    application_name: applicationName,
  });
  // An idle client whose server went away emits here; without a listener it would crash the process.
  pool.on('error', (err) => logger.warn('postgres.idle_client_error', { err }));
  // Errors of this pool say they are Postgres's, and where: a CLI command names the database, not
  // Redis (a refused connection reads the same from either client).
  const at = postgresAddress(o.url);
  const query = pool.query.bind(pool) as (...args: unknown[]) => Promise<unknown>;
  const connect = pool.connect.bind(pool) as (cb?: (err: unknown, ...rest: unknown[]) => void) => Promise<pg.PoolClient> | undefined;
  pool.query = ((...args: unknown[]) => query(...args).catch((err: unknown) => Promise.reject(markPostgres(err, at)))) as typeof pool.query;
  // Both forms: pg-pool's own query() connects with a callback.
  pool.connect = ((cb?: (err: unknown, ...rest: unknown[]) => void) =>
    cb
      ? connect((err, ...rest) => cb(err ? markPostgres(err, at) : err, ...rest))
      : connect()!.catch((err: unknown) => Promise.reject(markPostgres(err, at)))) as typeof pool.connect;
  return pool;
}

export { isTransientPgError } from '../../lib/core/failure-policy.js';

/** Postgres text holds no NUL: in values and in object keys alike (a key with one had failed the whole batch). */
const noNul = (_k: string, v: unknown): unknown => {
  if (typeof v === 'string') return v.includes('\u0000') ? v.replaceAll('\u0000', '\uFFFD') : v;
  if (v === null || typeof v !== 'object' || Array.isArray(v) || !Object.keys(v).some((k) => k.includes('\u0000'))) return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k.replaceAll('\u0000', '\uFFFD'), x]));
};

const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : null);
const iso = (ms: unknown) => (typeof ms === 'number' && Number.isFinite(ms) ? new Date(ms).toISOString() : null);

/**
 * A stream entry id ("ms-seq") as text that sorts like the id (COLLATE "C"): both parts
 * zero-padded. Undefined (no version) stays null: always written.
 */
export function sortableVersion(id: string | undefined): string | null {
  const m = id === undefined ? null : /^(\d+)-(\d+)$/.exec(id);
  return m ? `${m[1]!.padStart(20, '0')}-${m[2]!.padStart(20, '0')}` : null;
}

/**
 * One row per key: the batch's newest version (the last of equals), how many of the batch's
 * entries carry that version, and the first of them. Older versions in the same batch are stale
 * and counted in `stale`.
 */
export function batchRows(products: readonly StoredProduct[]): { rows: Record<string, unknown>[]; stale: number } {
  const byKey = new Map<string, { last: StoredProduct; version: string | null; entries: number; first: string }>();
  let stale = 0;
  for (const p of products) {
    const version = sortableVersion(p.version);
    const seen = byKey.get(p.key);
    if (!seen) {
      byKey.set(p.key, { last: p, version, entries: 1, first: p.entryId });
      continue;
    }
    const cmp = version === null || seen.version === null ? 0 : version < seen.version ? -1 : version > seen.version ? 1 : 0;
    if (cmp < 0) {
      stale++;
    } else if (cmp > 0) {
      stale += seen.entries;
      byKey.set(p.key, { last: p, version, entries: 1, first: p.entryId });
    } else {
      seen.last = p;
      seen.entries++;
    }
  }
  const rows = [...byKey.values()].map(({ last: p, version, entries, first }) => ({
    key: p.key,
    category: p.category,
    brand: str(p.fields.brand),
    mpn: str(p.fields.mpn),
    gtin: str(p.fields.gtin),
    gtin_valid: typeof p.fields.gtinValid === 'boolean' ? p.fields.gtinValid : null,
    duplicate_of: str(p.fields.duplicateOf),
    doc: p.doc,
    entry_id: p.entryId,
    trace_id: p.traceId,
    entries,
    first_entry_id: first,
    produced_at: iso(p.doc.producedAt),
    stored_at: iso(p.storedAt),
    version,
  }));
  return { rows, stale };
}

/**
 * One statement per batch: the rows arrive as one JSON parameter, the same key twice in a batch is
 * collapsed first (ON CONFLICT cannot touch a row twice). `copies` counts distinct store-stream
 * entries like upsert-product-3.lua: +1 per entry, except a re-delivery of the entry stored last.
 * Newest wins: a row whose stored `version` is newer than the batch's is left alone (no row
 * returned for it: the caller counts it as stale).
 */
export function upsertSql(schema: string): string {
  const t = `${quoteSchema(schema)}.products`;
  return `WITH batch AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS b(
    key text, category text, brand text, mpn text, gtin text, gtin_valid boolean, duplicate_of text, doc jsonb,
    entry_id text, trace_id text, entries integer, first_entry_id text, produced_at timestamptz, stored_at timestamptz, version text)
)
INSERT INTO ${t} AS p (key, category, brand, mpn, gtin, gtin_valid, duplicate_of, doc, entry_id, trace_id, copies, produced_at, stored_at, version)
SELECT key, category, brand, mpn, gtin, gtin_valid, duplicate_of, doc, entry_id, trace_id, entries, produced_at, stored_at, version FROM batch
ON CONFLICT (key) DO UPDATE SET
  category = EXCLUDED.category, brand = EXCLUDED.brand, mpn = EXCLUDED.mpn, gtin = EXCLUDED.gtin,
  gtin_valid = EXCLUDED.gtin_valid, duplicate_of = EXCLUDED.duplicate_of, doc = EXCLUDED.doc,
  entry_id = EXCLUDED.entry_id, trace_id = EXCLUDED.trace_id, produced_at = EXCLUDED.produced_at, stored_at = EXCLUDED.stored_at,
  version = COALESCE(EXCLUDED.version, p.version),
  copies = p.copies + EXCLUDED.copies
    - CASE WHEN p.entry_id = (SELECT b.first_entry_id FROM batch b WHERE b.key = EXCLUDED.key) THEN 1 ELSE 0 END
WHERE p.version IS NULL OR EXCLUDED.version IS NULL OR EXCLUDED.version COLLATE "C" >= p.version COLLATE "C"
RETURNING 1`;
}

/**
 * The Postgres sink: each batch is one idempotent upsert statement (its own transaction), so
 * `write` resolves only after the batch has committed, and the store stage acks after that.
 * Unreachable / restarting / overloaded database → TransientError (the consumer retries the batch
 * without counting deliveries); anything else (bad data) is thrown as is.
 */
export function createPostgresSink(o: PostgresOptions, logger: Logger): Sink & { init(): Promise<void>; readonly pool: pg.Pool } {
  const pool = createPool(o, logger, 'pipeline:store');
  const sql = upsertSql(o.schema);
  return {
    name: 'postgres',
    pool,
    /** Refuse to start on a schema that lacks migrations; an unreachable database is only logged (writes retry). */
    async init() {
      let applied: Map<string, string>;
      try {
        applied = await appliedVersions(pool, o.schema);
      } catch (err) {
        if (!isTransientPgError(err)) throw err;
        logger.warn('postgres.unreachable_at_start', { err, note: 'writes will retry until it is back' });
        return;
      }
      const need = latestVersion();
      if (!applied.has(need)) {
        throw new ConfigError(
          `postgres schema ${o.schema}`,
          `migration ${need} is not applied (have: ${[...applied.keys()].join(', ') || 'none'}): run \`pipeline store migrate\``,
        );
      }
    },
    async write(products) {
      if (products.length === 0) return;
      const { rows, stale } = batchRows(products);
      try {
        const json = JSON.stringify(rows);
        // NUL shows in JSON text only as \u0000: the replacer pass only for the rare batch that has one.
        const r = await pool.query(sql, [json.includes('\\u0000') ? JSON.stringify(rows, noNul) : json]);
        return { stale: stale + rows.length - (r.rowCount ?? rows.length) };
      } catch (err) {
        if (isTransientPgError(err)) {
          const code = (err as { code?: string }).code;
          const hint = code === '42P01' || code === '42703' ? ' (the schema is not migrated: run `pipeline store migrate`)' : '';
          throw new TransientError(`postgres unavailable: ${(err as Error).message || code}${hint}`, { cause: err, outage: 'postgres_unavailable' });
        }
        throw err;
      }
    },
    close: () => pool.end(),
  };
}
