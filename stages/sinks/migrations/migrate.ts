import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type pg from 'pg';
import { ConfigError, MigrationLockError, MigrationRoleError } from '../../../lib/core/errors.js';
import type { Logger } from '../../../lib/observe/logger.js';
import { LOCK_WAIT_DEFAULTS, setLockTimeout, withLockRetries, type LockWaitOptions } from './lock-wait.js';

const DIR = import.meta.dirname;
const FILE_RE = /^(\d+)_([A-Za-z0-9_]+)\.sql$/;
const SCHEMA_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** One advisory lock for every migrator of every schema: migrations run one at a time. */
const LOCK_KEY = 7_000_000_701;

export interface Migration {
  /** The number prefix, e.g. "001". Applied in numeric order. */
  version: string;
  name: string;
  sql: string;
  /** SHA-256 of the file, recorded when applied: an edited applied migration is reported. */
  checksum: string;
  /** What it creates (VERIFY), checked on every run: a recorded migration whose objects are gone is applied again. */
  verify: readonly string[];
}

/**
 * The objects each migration creates, `table` or `table.column` (kept here, not in the files: an
 * edit to an applied file changes its checksum). Every migration is idempotent (IF NOT EXISTS), so
 * one whose objects were dropped after it was recorded can be applied again.
 */
const VERIFY: Record<string, readonly string[]> = {
  '001': ['products'],
  '002': ['products.version'],
  '003': ['products.entry_stream', 'products.applied_entries'],
  '004': ['products.applied_lineages'],
};

export interface MigrateResult {
  schema: string;
  /** Versions applied by this run, in order (those in `reapplied` too). */
  applied: string[];
  /** Versions recorded as applied whose objects were missing (a table dropped or renamed), applied again by this run. */
  reapplied: string[];
  /** The latest version now in the schema. */
  current: string;
}

/** Double-quoted identifier for a validated schema name. */
export function quoteSchema(schema: string): string {
  if (!SCHEMA_RE.test(schema)) throw new ConfigError('postgres schema', `invalid schema name ${JSON.stringify(schema)} (letters, digits, _)`);
  return `"${schema}"`;
}

/** The migration files of this folder (`NNN_name.sql`), in order. */
export function listMigrations(dir = DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => FILE_RE.test(f))
    .map((f) => {
      const [, version, name] = FILE_RE.exec(f)!;
      const sql = readFileSync(resolve(dir, f), 'utf8');
      return { version: version!, name: name!, sql, checksum: createHash('sha256').update(sql).digest('hex'), verify: VERIFY[version!] ?? [] };
    })
    .sort((a, b) => Number(a.version) - Number(b.version));
}

/** The latest migration version shipped (what the sink needs). */
export function latestVersion(dir = DIR): string {
  const all = listMigrations(dir);
  return all[all.length - 1]?.version ?? '0';
}

/** Versions recorded in `<schema>.schema_migrations`; empty when the table does not exist yet. */
export async function appliedVersions(db: pg.Pool | pg.PoolClient, schema: string): Promise<Map<string, string>> {
  const exists = await db.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [`${quoteSchema(schema)}.schema_migrations`]);
  if (!exists.rows[0]?.t) return new Map();
  const rows = await db.query<{ version: string; checksum: string }>(`SELECT version, checksum FROM ${quoteSchema(schema)}.schema_migrations`);
  return new Map(rows.rows.map((r) => [r.version, r.checksum]));
}

/** The objects of `m` (its `verify` list) missing from `schema`, e.g. ["products"] or ["products.version"]. */
export async function missingObjects(db: pg.Pool | pg.PoolClient, schema: string, m: Pick<Migration, 'verify'>): Promise<string[]> {
  const missing: string[] = [];
  for (const object of m.verify) {
    const [table, column] = object.split('.');
    const rel = `${quoteSchema(schema)}."${table}"`;
    const r = column
      ? await db.query('SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2 AND attnum > 0 AND NOT attisdropped', [rel, column])
      : await db.query('SELECT 1 WHERE to_regclass($1) IS NOT NULL', [rel]);
    if (r.rowCount === 0) missing.push(object);
  }
  return missing;
}

/**
 * What keeps the sink from writing to `schema`: a migration not applied, or the objects of an
 * applied one gone (dropped after it was recorded); undefined when it is ready. Each names the fix.
 */
export async function schemaProblem(db: pg.Pool | pg.PoolClient, schema: string, dir = DIR): Promise<string | undefined> {
  const applied = await appliedVersions(db, schema);
  const need = latestVersion(dir);
  if (!applied.has(need)) return `migration ${need} is not applied (have: ${[...applied.keys()].join(', ') || 'none'}): run \`pipeline store migrate\``;
  for (const m of listMigrations(dir)) {
    const missing = await missingObjects(db, schema, m);
    if (missing.length > 0)
      return `${missing.join(', ')} missing though migration ${m.version} is recorded as applied: run \`pipeline store migrate\` (it applies it again)`;
  }
  return undefined;
}

/**
 * Apply every migration not yet recorded in `<schema>.schema_migrations`, in order, each in its own
 * transaction together with its record, under an advisory lock (concurrent runs wait, then find
 * nothing to do). Idempotent: a second run applies nothing. A recorded migration whose objects are
 * missing (VERIFY: a table dropped after it was recorded) is applied again and its record renewed.
 * On a live database each migration waits for its table locks at most `lockTimeoutMs` per attempt
 * (the store's writes queue behind a waiting ALTER TABLE) and retries for `lockWaitMs`
 * (stages/sinks/migrations/lock-wait.ts), then fails naming the sessions that hold the tables (MigrationLockError).
 */
export async function migrate(pool: pg.Pool, opts: { schema?: string; logger?: Logger; dir?: string } & LockWaitOptions = {}): Promise<MigrateResult> {
  const schema = opts.schema ?? 'public';
  const waits = { lockTimeoutMs: opts.lockTimeoutMs ?? LOCK_WAIT_DEFAULTS.lockTimeoutMs, lockWaitMs: opts.lockWaitMs ?? LOCK_WAIT_DEFAULTS.lockWaitMs };
  const q = quoteSchema(schema);
  const migrations = listMigrations(opts.dir);
  const client = await pool.connect();
  const applied: string[] = [];
  const reapplied: string[] = [];
  let failed: Error | undefined;
  try {
    await client.query('SELECT pg_advisory_lock($1)', [LOCK_KEY]).catch((err: unknown) => {
      // Cancelled by statement_timeout while waiting: someone else holds the lock, say so.
      if ((err as { code?: string }).code === '57014')
        throw new Error(
          `another \`pipeline store migrate\` (or a process holding its advisory lock ${LOCK_KEY}) has been running longer than the statement timeout; wait for it and run again`,
          { cause: err },
        );
      throw err;
    });
    // Created only when missing: IF NOT EXISTS still needs CREATE on the database (the schema) and on
    // the schema (the table), so a run as the store workers' role, with nothing to apply, had failed.
    const [{ hasSchema, hasTable }] = (
      await client.query<{ hasSchema: boolean; hasTable: boolean }>(
        'SELECT to_regnamespace($1) IS NOT NULL AS "hasSchema", to_regclass($2) IS NOT NULL AS "hasTable"',
        [q, `${q}.schema_migrations`],
      )
    ).rows as [{ hasSchema: boolean; hasTable: boolean }];
    if (!hasSchema) await ownerOnly(client, 'create the schema', () => client.query(`CREATE SCHEMA IF NOT EXISTS ${q}`));
    if (!hasTable)
      await ownerOnly(client, 'create schema_migrations', () =>
        client.query(
          `CREATE TABLE IF NOT EXISTS ${q}.schema_migrations (version text PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
        ),
      );
    const done = await appliedVersions(client, schema);
    for (const m of migrations) {
      const had = done.get(m.version);
      const missing = had !== undefined ? await missingObjects(client, schema, m) : [];
      if (had !== undefined && missing.length === 0) {
        if (had !== m.checksum)
          opts.logger?.warn('migrate.changed', { schema, version: m.version, name: m.name, note: 'applied migration file was edited since; not re-applied' });
        continue;
      }
      const migration = `${m.version}_${m.name}`;
      try {
        await withLockRetries(client, { migration, quotedSchema: q, logger: opts.logger }, waits, async () => {
          await client.query('BEGIN');
          await setLockTimeout(client, waits.lockTimeoutMs);
          await client.query(`SET LOCAL search_path TO ${q}`);
          await client.query(m.sql);
          await client.query(
            `INSERT INTO ${q}.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)
           ON CONFLICT (version) DO UPDATE SET name = EXCLUDED.name, checksum = EXCLUDED.checksum, applied_at = now()`,
            [m.version, m.name, m.checksum],
          );
          await client.query('COMMIT');
        });
      } catch (err) {
        if (err instanceof MigrationLockError) throw err;
        if (isRefused(err)) throw await refusal(client, `apply migration ${migration}`, err);
        throw new Error(`migration ${migration} failed: ${(err as Error).message}`, { cause: err });
      }
      applied.push(m.version);
      if (had !== undefined) {
        reapplied.push(m.version);
        opts.logger?.warn('migrate.reapplied', {
          schema,
          version: m.version,
          name: m.name,
          missing,
          note: 'recorded as applied, but its objects were missing',
        });
      } else opts.logger?.info('migrate.applied', { schema, version: m.version, name: m.name });
    }
    await client.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]);
  } catch (err) {
    failed = err as Error;
    throw err;
  } finally {
    // After a failure the session is closed rather than reused: that rolls back the open
    // transaction and drops the advisory lock in one go.
    client.release(failed);
  }
  return { schema, applied, reapplied, current: migrations[migrations.length - 1]?.version ?? '0' };
}

/** 42501 insufficient_privilege: "permission denied for ...", "must be owner of table ...". */
const isRefused = (err: unknown) => (err as { code?: string } | null)?.code === '42501';

/** A refusal of `what` to the connected role, with who may do it: the tables' owner (the store workers' role needs less). */
async function refusal(client: pg.PoolClient, what: string, err: unknown): Promise<MigrationRoleError> {
  await client.query('ROLLBACK').catch(() => {}); // the refused transaction, if one is open
  const role = await client
    .query<{ role: string }>('SELECT current_user AS role')
    .then((r) => r.rows[0]?.role ?? '?')
    .catch(() => '?');
  return new MigrationRoleError(role, what, (err as Error).message, { cause: err });
}

/** Run `step`, a refused one thrown as MigrationRoleError. */
async function ownerOnly(client: pg.PoolClient, what: string, step: () => Promise<unknown>): Promise<void> {
  try {
    await step();
  } catch (err) {
    if (isRefused(err)) throw await refusal(client, what, err);
    throw err;
  }
}
