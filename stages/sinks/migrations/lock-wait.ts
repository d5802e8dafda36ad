import type pg from 'pg';
import { MigrationLockError } from '../../../lib/core/errors.js';
import { sleep } from '../../../lib/core/backoff.js';
import type { Logger } from '../../../lib/observe/logger.js';

/**
 * How a migration waits for the locks its DDL needs on a live database. An `ALTER TABLE` (migration
 * 003 adds columns to `products`) needs the table's ACCESS EXCLUSIVE lock; while it waits for a
 * session that holds the table (a long `pipeline export`, an open transaction in psql), every
 * statement after it queues behind it: the store workers' upserts, the API's reads. Unbounded, the
 * store stood still until the statement timeout (30 s) and the migration then failed with
 * "canceling statement due to statement timeout". Each attempt now waits at most `lockTimeoutMs`
 * (`SET LOCAL lock_timeout`), then rolls back and lets the queued writes through for as long
 * again before the next attempt, until `lockWaitMs` has passed.
 */
export interface LockWaitOptions {
  /** How long one attempt waits for a lock before it gives up and lets the store's writes through. @defaultValue 2000 ms */
  lockTimeoutMs?: number;
  /** How long attempts go on before migrate fails, naming the sessions that hold the schema's tables. @defaultValue 60000 ms */
  lockWaitMs?: number;
}

export const LOCK_WAIT_DEFAULTS: Required<LockWaitOptions> = { lockTimeoutMs: 2_000, lockWaitMs: 60_000 };

/** PostgreSQL's lock_not_available (55P03): what `lock_timeout` raises. */
export const isLockTimeout = (err: unknown): boolean => (err as { code?: string } | null)?.code === '55P03';

/** Within an open transaction: its lock waits end after `ms` (55P03). */
export async function setLockTimeout(client: pg.PoolClient, ms: number): Promise<void> {
  await client.query("SELECT set_config('lock_timeout', $1, true)", [`${Math.max(1, Math.round(ms))}ms`]);
}

interface Holder {
  pid: number;
  usename: string | null;
  application_name: string | null;
  state: string | null;
  secs: number | null;
  query: string | null;
}

/** The other sessions holding a lock on a table of `schema` (quoted), one phrase each: pid, user, application, state and age, query. */
export async function lockHolders(client: pg.PoolClient, quotedSchema: string): Promise<string[]> {
  const { rows } = await client.query<Holder>(
    `SELECT a.pid, a.usename, a.application_name, a.state, extract(epoch FROM now() - a.xact_start)::int AS secs, left(a.query, 120) AS query
       FROM pg_stat_activity a
      WHERE a.pid <> pg_backend_pid()
        AND a.pid IN (SELECT l.pid FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE l.granted AND c.relnamespace = to_regnamespace($1))
      ORDER BY a.xact_start NULLS LAST`,
    [quotedSchema],
  );
  return rows.map((r) => {
    const age = r.secs === null ? '' : ` for ${r.secs} s`;
    const query = r.query ? `: ${r.query.replace(/\s+/g, ' ').trim()}` : '';
    return `pid ${r.pid} (user ${r.usename ?? '?'}, application "${r.application_name ?? ''}", ${r.state ?? '?'}${age}${query})`;
  });
}

/**
 * Run `attempt` (one transaction: BEGIN, setLockTimeout, the DDL, COMMIT) until it does not fail
 * for a lock, at most `lockWaitMs`; after each lock timeout the transaction is rolled back and the
 * next attempt waits `lockTimeoutMs`, while the writes that queued behind it go through. Gives up
 * with MigrationLockError naming the sessions that hold the schema's tables. Other errors are thrown as they are.
 */
export async function withLockRetries(
  client: pg.PoolClient,
  what: { migration: string; quotedSchema: string; logger?: Logger },
  o: Required<LockWaitOptions>,
  attempt: () => Promise<void>,
): Promise<void> {
  const started = performance.now();
  for (let n = 1; ; n++) {
    try {
      await attempt();
      return;
    } catch (err) {
      if (!isLockTimeout(err)) throw err;
      await client.query('ROLLBACK');
      const waited = Math.round(performance.now() - started);
      if (waited + 2 * o.lockTimeoutMs > o.lockWaitMs) {
        const holders = await lockHolders(client, what.quotedSchema).catch(() => []);
        throw new MigrationLockError(what.migration, holders, { ...o, attempts: n }, { cause: err });
      }
      if (n === 1) what.logger?.warn('migrate.lock_wait', { migration: what.migration, lockTimeoutMs: o.lockTimeoutMs, lockWaitMs: o.lockWaitMs });
      await sleep(o.lockTimeoutMs);
    }
  }
}
