import pg from 'pg';
import { POSTGRES_URL_RE, postgresSettings, type PostgresOptions } from './postgres-settings.js';

export { POSTGRES_DEFAULTS, type PostgresOptions } from './postgres-settings.js';
import { markPostgres, postgresAddress } from './postgres-origin.js';
import { ConfigError, TransientError } from '../../lib/core/errors.js';
import { inFlightLimit } from '../../lib/core/in-flight.js';
import { isPostgresRefusal, isTransientPgError } from '../../lib/core/failure-policy.js';
import type { Logger } from '../../lib/observe/logger.js';
import { quoteSchema, schemaProblem } from './migrations/migrate.js';
import { privilegeProblem, RefusalNotice } from './privileges.js';
import { APPLIED_ENTRIES_KEPT, entryIdentity, lineageOf, type Sink, type StoredProduct } from './sink.js';

/**
 * Sink options from the store stage's settings (`postgresUrl`, `postgresSchema`, `postgresPoolSize`,
 * `postgresConnectTimeoutMs`, `postgresStatementTimeoutMs`, `postgresIdleTimeoutMs`), the URL
 * falling back to env DATABASE_URL. `where` names the settings in errors.
 */
export function postgresOptionsFrom(settings: Record<string, unknown>, env: NodeJS.ProcessEnv, where: string): PostgresOptions {
  const options = postgresSettings(settings, where);
  const url = settings.postgresUrl ?? env.DATABASE_URL;
  if (typeof url !== 'string' || !POSTGRES_URL_RE.test(url)) {
    throw new ConfigError(`${where}.postgresUrl`, 'the postgres sink needs a postgres:// URL in settings.postgresUrl or env DATABASE_URL');
  }
  return { url, ...options };
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
 * The batch's entries applied in order, as the redis sink's upsert-product-5.lua does one after
 * the other: an entry older than an earlier entry of its key in the batch is stale whatever is
 * stored (counted in `stale`); the others stay, in order (`ord` within the key), the last of each
 * key marked `last`: the row stored unless the stored version is newer (the statement decides
 * that), and one whose delivery (`ident`, entryIdentity) came earlier in the batch marked `repeat`,
 * one whose lineage (`lineage`: lineageOf, with the version as the `version` column holds it) did
 * `relineage`. An entry without a version is always kept and leaves the newest-so-far as it was.
 */
export function batchRows(products: readonly StoredProduct[]): { rows: Record<string, unknown>[]; stale: number } {
  const byKey = new Map<string, { newest: string | null; rows: Record<string, unknown>[]; seen: Set<string>; lineages: Set<string> }>();
  let stale = 0;
  for (const p of products) {
    const version = sortableVersion(p.version);
    let seen = byKey.get(p.key);
    if (!seen) byKey.set(p.key, (seen = { newest: null, rows: [], seen: new Set(), lineages: new Set() }));
    if (version !== null && seen.newest !== null && version < seen.newest) {
      stale++;
      continue;
    }
    if (version !== null) seen.newest = version;
    const ident = entryIdentity(p);
    const lineage = version === null ? undefined : lineageOf({ traceId: p.traceId, version });
    seen.rows.push({
      key: p.key,
      ord: seen.rows.length,
      last: false,
      category: p.category,
      brand: str(p.fields.brand),
      mpn: str(p.fields.mpn),
      gtin: str(p.fields.gtin),
      gtin_valid: typeof p.fields.gtinValid === 'boolean' ? p.fields.gtinValid : null,
      duplicate_of: str(p.fields.duplicateOf),
      doc: p.doc,
      entry_id: p.entryId,
      entry_stream: p.stream ?? p.pending?.stream ?? null,
      ident,
      repeat: seen.seen.has(ident),
      lineage: lineage ?? null,
      relineage: lineage !== undefined && seen.lineages.has(lineage),
      trace_id: p.traceId,
      produced_at: iso(p.doc.producedAt),
      stored_at: iso(p.storedAt),
      version,
      rebuilt: p.rebuilt === true,
    });
    seen.seen.add(ident);
    if (lineage !== undefined) seen.lineages.add(lineage);
  }
  const rows = [...byKey.values()].flatMap((k) => {
    k.rows[k.rows.length - 1]!.last = true;
    return k.rows;
  });
  return { rows, stale };
}

/**
 * The entries of `key` (batch alias `x`) not older than `version` (null: all), in order, with the
 * entry and version applied before each (`prev`, `prev_version`: the first's `entry`, `version`).
 */
const appliedEntries = (key: string, version: string, entry: string) =>
  `SELECT x.ord, x.entry_id, x.ident, x.repeat, x.lineage, x.relineage, x.rebuilt, x.version, lag(x.entry_id, 1, ${entry}) OVER (ORDER BY x.ord) AS prev,
      lag(x.version, 1, ${version}) OVER (ORDER BY x.ord) AS prev_version FROM batch x
      WHERE x.key = ${key} AND (x.version IS NULL OR ${version} IS NULL OR x.version COLLATE "C" >= ${version} COLLATE "C")`;

/** The stored row's entry as an identity (entryIdentity); its bare id on a row from before migration 003. */
const STORED = `CASE WHEN p.entry_stream IS NULL THEN p.entry_id ELSE p.entry_stream || '/' || p.entry_id END`;
/** The deliveries the row has had applied: its last entries (migration 003) and the stored one. */
const KNOWN = `(COALESCE(p.applied_entries, '{}'::text[]) || ${STORED})`;

/** Of appliedEntries, a delivery not applied before: not earlier in the batch, nor among `known` (an identity, or a bare id of a row from before migration 003). */
const fresh = (known: string) => `NOT y.repeat AND NOT (y.ident = ANY(${known}) OR y.entry_id = ANY(${known}))`;

/** The stored row's lineage (lineageOf: its trace id and version), NULL without a version. */
const STORED_LINEAGE = `(p.trace_id || '/' || p.version)`;
/**
 * The lineages the row has had applied: its last ones (migration 004; NULL on a row from before it)
 * and the stored one, last (also on a row the previous release wrote during a rolling upgrade).
 */
const KNOWN_LINEAGES = `array_remove(array_remove(COALESCE(p.applied_lineages, '{}'::text[]), ${STORED_LINEAGE}) || ${STORED_LINEAGE}, NULL)`;

/** Of appliedEntries, a lineage not applied before: not earlier in the batch, nor among `known`. */
const newLineage = (known: string) => `y.lineage IS NOT NULL AND NOT y.relineage AND NOT (y.lineage = ANY(${known}))`;

/**
 * Of appliedEntries, those `copies` counts: a delivery not applied before, of a lineage not applied
 * before (none: the entry alone tells), and not a rebuilt version of a stored product (unless the same version again).
 */
const copy = (known: string, lineages: string) =>
  `${fresh(known)} AND (y.lineage IS NULL OR ${newLineage(lineages)}) AND (NOT y.rebuilt OR y.prev IS NULL OR y.version IS NOT DISTINCT FROM y.prev_version)`;

/** The last `kept` elements of the text[] `list` (an integer checked by appliedEntriesKept). */
const lastKept = (list: string, kept: number) => `(SELECT a[greatest(cardinality(a) - ${Math.trunc(kept) - 1}, 1):] FROM (SELECT ${list} AS a) z)`;

/**
 * One statement per batch: the entries arrive as one JSON parameter and are applied in order per
 * key with upsert-product-5.lua's rules, so both sinks store the same whatever the batching. The
 * key's last entry is the row (ON CONFLICT touches a row once); `copies` counts distinct
 * productions: +1 per applied entry that is not one applied to the row before (known by stream and
 * entry id: the stored entry or one of its last `kept`, `applied_entries`, or an
 * earlier entry of the batch: a re-delivery of a batch whose ack was lost does not count again,
 * however many entries of the key it had), nor of a lineage applied before (lineageOf: one of its
 * last `kept`, `applied_lineages`, or an earlier entry's of the batch: the record an
 * upstream stage sent again under a new entry after a failover), nor a rebuilt version (reprocess, review
 * decision) of a product stored already, unless it is the version applied just before it again.
 * Newest wins: entries older than the stored `version` are not applied, and a key whose stored
 * version is newer than all of its batch entries is left alone. Returns, per key written, how many
 * of its entries were applied (the caller counts the rest as stale).
 */
export function upsertSql(schema: string, kept = APPLIED_ENTRIES_KEPT): string {
  const t = `${quoteSchema(schema)}.products`;
  const none = `'{}'::text[]`;
  const inserted = appliedEntries('b.key', 'NULL::text', 'NULL::text');
  const updated = appliedEntries('EXCLUDED.key', 'p.version', 'p.entry_id');
  return `WITH batch AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS b(
    key text, ord integer, last boolean, category text, brand text, mpn text, gtin text, gtin_valid boolean, duplicate_of text, doc jsonb,
    entry_id text, entry_stream text, ident text, repeat boolean, lineage text, relineage boolean, trace_id text, produced_at timestamptz, stored_at timestamptz, version text, rebuilt boolean)
), stored AS (
  SELECT s.key, s.version, s.entry_id FROM ${t} s WHERE s.key IN (SELECT key FROM batch)
)
INSERT INTO ${t} AS p (key, category, brand, mpn, gtin, gtin_valid, duplicate_of, doc, entry_id, entry_stream, trace_id, copies, applied_entries,
  applied_lineages, produced_at, stored_at, version)
SELECT b.key, b.category, b.brand, b.mpn, b.gtin, b.gtin_valid, b.duplicate_of, b.doc, b.entry_id, b.entry_stream, b.trace_id,
  (SELECT count(*) FROM (${inserted}) y WHERE ${copy(none, none)}),
  ${lastKept(`ARRAY(SELECT y.ident FROM (${inserted}) y WHERE NOT y.repeat ORDER BY y.ord)`, kept)},
  ${lastKept(`ARRAY(SELECT y.lineage FROM (${inserted}) y WHERE ${newLineage(none)} ORDER BY y.ord)`, kept)},
  b.produced_at, b.stored_at, b.version
FROM batch b WHERE b.last
ON CONFLICT (key) DO UPDATE SET
  category = EXCLUDED.category, brand = EXCLUDED.brand, mpn = EXCLUDED.mpn, gtin = EXCLUDED.gtin,
  gtin_valid = EXCLUDED.gtin_valid, duplicate_of = EXCLUDED.duplicate_of, doc = EXCLUDED.doc,
  entry_id = EXCLUDED.entry_id, entry_stream = EXCLUDED.entry_stream, trace_id = EXCLUDED.trace_id,
  produced_at = EXCLUDED.produced_at, stored_at = EXCLUDED.stored_at,
  version = COALESCE(EXCLUDED.version, p.version),
  copies = p.copies + (SELECT count(*) FROM (${updated}) y WHERE ${copy(KNOWN, KNOWN_LINEAGES)}),
  applied_entries = ${lastKept(`array_remove(COALESCE(p.applied_entries, ${none}), ${STORED}) || ${STORED} || ARRAY(SELECT y.ident FROM (${updated}) y WHERE ${fresh(KNOWN)} ORDER BY y.ord)`, kept)},
  applied_lineages = ${lastKept(`${KNOWN_LINEAGES} || ARRAY(SELECT y.lineage FROM (${updated}) y WHERE ${newLineage(KNOWN_LINEAGES)} ORDER BY y.ord)`, kept)}
WHERE p.version IS NULL OR EXCLUDED.version IS NULL OR EXCLUDED.version COLLATE "C" >= p.version COLLATE "C"
RETURNING (SELECT count(*) FROM batch x LEFT JOIN stored s ON s.key = x.key
  WHERE x.key = p.key AND (x.version IS NULL OR s.version IS NULL OR x.version COLLATE "C" >= s.version COLLATE "C"))::int AS applied`;
}

/**
 * The Postgres sink: each batch is one idempotent upsert statement (its own transaction), so
 * `write` resolves only after the batch has committed, and the store stage acks after that.
 * Unreachable / restarting / overloaded database → TransientError (the consumer retries the batch
 * without counting deliveries); the role refused (a privilege missing, credentials refused) →
 * PostgresRefusalError (a TransientError), said once naming the role and the GRANT (RefusalNotice), and
 * carrying them to the consumer, whose liveness record shows the wait (`pipeline health`, `top`): no record's fault,
 * so none is dead-lettered; anything else (bad data) is thrown as is.
 */
export function createPostgresSink(
  o: PostgresOptions,
  logger: Logger,
  /** The entries `applied_entries` keeps (settings.appliedEntriesKept). */
  kept = APPLIED_ENTRIES_KEPT,
): Sink & { init(): Promise<void>; readonly pool: pg.Pool } {
  const pool = createPool(o, logger, 'pipeline:store');
  const sql = upsertSql(o.schema, kept);
  const refusals = new RefusalNotice(pool, o.url, o.schema, logger);
  // Batches of several shards come at once (the store stage's `concurrentShards`): one statement per pool client.
  const statements = inFlightLimit(o.poolSize);
  return {
    name: 'postgres',
    pool,
    // Two shards' batches at once: one statement per batch on rows of disjoint keys (no lock between them).
    concurrentShards: true,
    /**
     * Refuse to start on a schema that lacks migrations or their objects. A role refused a privilege
     * or its login is said once (`postgres.permission_denied`, with the GRANT) and left to the
     * writes, which wait until it is granted; an unreachable database is only logged (writes retry).
     */
    async init() {
      let problem: string | undefined;
      try {
        const denied = await privilegeProblem(pool, o.schema);
        if (denied) {
          await refusals.report(undefined, denied);
          return;
        }
        problem = await schemaProblem(pool, o.schema);
      } catch (err) {
        if (isPostgresRefusal(err)) {
          await refusals.report(err);
          return;
        }
        if (!isTransientPgError(err)) throw err;
        logger.warn('postgres.unreachable_at_start', { err, note: 'writes will retry until it is back' });
        return;
      }
      if (problem) throw new ConfigError(`postgres schema ${o.schema}`, problem);
    },
    async write(products) {
      if (products.length === 0) return;
      const { rows, stale } = batchRows(products);
      try {
        const json = JSON.stringify(rows);
        // NUL shows in JSON text only as \u0000: the replacer pass only for the rare batch that has one.
        const r = await statements(() => pool.query<{ applied: number }>(sql, [json.includes('\\u0000') ? JSON.stringify(rows, noNul) : json]));
        refusals.resolved();
        return { stale: stale + rows.length - r.rows.reduce((n, row) => n + row.applied, 0) };
      } catch (err) {
        if (isPostgresRefusal(err)) throw await refusals.report(err);
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
