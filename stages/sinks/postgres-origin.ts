/**
 * Where a Postgres error came from, kept on the error itself: the CLI names the database instead of
 * Redis (a refused connection reads the same from either client). No `pg` import here, so the CLI's
 * error path does not load the driver for commands that never use it.
 */
const FROM_POSTGRES = Symbol('postgres address');

/** host:port/database of a postgres:// URL, without credentials. */
export function postgresAddress(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || 'localhost'}:${u.port || '5432'}${u.pathname && u.pathname !== '/' ? u.pathname : ''}`;
  } catch {
    return 'the configured database';
  }
}

export function markPostgres(err: unknown, at: string): unknown {
  if (err !== null && typeof err === 'object') (err as Record<symbol, string>)[FROM_POSTGRES] = at;
  return err;
}

/** Where the Postgres error came from (host:port/database), or undefined for an error that is not one of a pool's. */
export function postgresOrigin(err: unknown): string | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  return (err as Record<symbol, string | undefined>)[FROM_POSTGRES] ?? postgresOrigin((err as { cause?: unknown }).cause);
}
