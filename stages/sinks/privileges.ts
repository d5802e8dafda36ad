import type pg from 'pg';
import { PostgresRefusalError } from '../../lib/core/errors.js';
import type { Logger } from '../../lib/observe/logger.js';
import { quoteSchema } from './migrations/migrate.js';

/**
 * The privileges the Postgres sink's role needs (docs/data-store.md "The store's database role"):
 * USAGE on the schema, SELECT on `schema_migrations` (the start check reads which migrations are
 * applied), SELECT, INSERT, UPDATE on `products` (the upsert reads the stored version, inserts or
 * updates the row). `pipeline store migrate` needs more (CREATE): run it as the tables' owner.
 */
export const SINK_PRIVILEGES: Readonly<Record<string, readonly string[]>> = {
  schema_migrations: ['SELECT'],
  products: ['SELECT', 'INSERT', 'UPDATE'],
};

/** What the role lacks, as found in the catalogs (no privilege needed to ask). */
export interface PrivilegeProblem {
  role: string;
  /** `USAGE on schema public`, `SELECT on public.schema_migrations`, ... */
  missing: string[];
  /** The statements that grant them, to run as the tables' owner or a superuser. */
  fix: string;
}

const ident = (name: string) => `"${name.replaceAll('"', '""')}"`;

/**
 * The privileges of SINK_PRIVILEGES the connected role lacks in `schema`; undefined when it has
 * them all. Tables that do not exist yet are skipped (the schema check names `pipeline store
 * migrate` for them). Asked through OIDs from the catalogs, so it never fails for lack of a grant.
 */
export async function privilegeProblem(db: pg.Pool | pg.PoolClient, schema: string): Promise<PrivilegeProblem | undefined> {
  const q = quoteSchema(schema);
  const r = await db.query<{ role: string; usage: boolean | null; relname: string | null; privilege: string | null; granted: boolean | null }>(
    `SELECT current_user AS role, has_schema_privilege(n.oid, 'USAGE') AS usage, c.relname, p.privilege,
       CASE WHEN c.oid IS NULL THEN NULL ELSE has_table_privilege(c.oid, p.privilege) END AS granted
     FROM (SELECT 1) one
     LEFT JOIN pg_namespace n ON n.nspname = $1
     LEFT JOIN (SELECT * FROM jsonb_each($2::jsonb)) t ON true
     LEFT JOIN LATERAL jsonb_array_elements_text(t.value) p(privilege) ON true
     LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = t.key`,
    [schema, JSON.stringify(SINK_PRIVILEGES)],
  );
  const role = r.rows[0]?.role ?? '?';
  if (r.rows[0]?.usage === null || r.rows[0]?.usage === undefined) return undefined; // no such schema yet: `store migrate` creates it
  const missing: string[] = [];
  const grants: string[] = [];
  if (!r.rows[0].usage) {
    missing.push(`USAGE on schema ${schema}`);
    grants.push(`GRANT USAGE ON SCHEMA ${q} TO ${ident(role)};`);
  }
  for (const table of Object.keys(SINK_PRIVILEGES)) {
    const lacking = r.rows.filter((x) => x.relname === table && x.granted === false).map((x) => x.privilege!);
    if (lacking.length === 0) continue;
    missing.push(`${lacking.join(', ')} on ${schema}.${table}`);
    grants.push(`GRANT ${lacking.join(', ')} ON ${q}.${ident(table)} TO ${ident(role)};`);
  }
  return missing.length > 0 ? { role, missing, fix: grants.join(' ') } : undefined;
}

/** The one line for a PrivilegeProblem: the role, what it lacks, the GRANT. */
export function privilegeLine(p: PrivilegeProblem): string {
  return `database role "${p.role}" lacks ${p.missing.join('; ')}: run, as the tables' owner or a superuser, ${p.fix} (docs/data-store.md lists what the store's role needs)`;
}

/** The role a postgres:// URL names (its user), for a refusal found before any query could ask (28000, 28P01). */
export function urlRole(url: string): string {
  try {
    return decodeURIComponent(new URL(url).username) || process.env.PGUSER || process.env.USER || '?';
  } catch {
    return '?';
  }
}

/** The one line for a refused login (SQLSTATE 28: no such role, not allowed to log in, password refused). */
export function loginRefusedLine(err: unknown, url: string): string {
  const why = err instanceof Error ? err.message : String(err);
  return `database role "${urlRole(url)}" was refused (${why}): check the user and password in postgresUrl / DATABASE_URL, that the role exists with LOGIN (CREATE ROLE ... LOGIN PASSWORD ...), and pg_hba.conf`;
}

/**
 * The sink's refusals, said once each (as `redis.noperm` is for a Redis user): the first logs
 * `postgres.permission_denied` (error) naming the role, what it lacks and the GRANT; while it
 * lasts, the batches wait in place and are only counted (`postgres.noperm`);
 * `postgres.permission_resolved` says when a write goes through again.
 */
export class RefusalNotice {
  private since: number | undefined;
  private said: { role: string; line: string; fix: string | undefined } | undefined;

  constructor(
    private readonly db: pg.Pool,
    private readonly url: string,
    private readonly schema: string,
    private readonly logger: Logger,
  ) {}

  /**
   * Say the refusal `err` (or the privileges found missing), unless it was said already; returns it
   * as a PostgresRefusalError (the role, the line, the GRANT), which the write throws.
   */
  async report(err: unknown, found?: PrivilegeProblem): Promise<PostgresRefusalError> {
    if (this.since !== undefined && !found && this.said) return new PostgresRefusalError(this.said.role, this.said.line, this.said.fix, { cause: err }); // said already: no catalog query per retry
    const login = /^28/.test(String((err as { code?: unknown } | undefined)?.code ?? ''));
    const p = found ?? (login ? undefined : await privilegeProblem(this.db, this.schema).catch(() => undefined));
    const line = p ? privilegeLine(p) : login ? loginRefusedLine(err, this.url) : `database role "${urlRole(this.url)}" was refused: ${(err as Error).message}`;
    const said = { role: p?.role ?? urlRole(this.url), line, fix: p?.fix };
    if (this.since === undefined) {
      this.since = Date.now();
      this.said = said;
      this.logger.error('postgres.permission_denied', {
        role: p?.role ?? urlRole(this.url),
        missing: p?.missing,
        fix: p?.fix,
        line,
        note: 'a configuration error, not an outage: batches wait in place (nothing is dead-lettered) until it is granted',
        ...(err ? { err } : {}),
      });
    }
    return new PostgresRefusalError(said.role, line, said.fix, { cause: err });
  }

  /** A write went through: the refusal, if any, is over. */
  resolved(): void {
    if (this.since === undefined) return;
    this.logger.info('postgres.permission_resolved', { role: urlRole(this.url), waitedMs: Date.now() - this.since });
    this.since = undefined;
  }
}
