import { ConfigError } from '../../lib/core/errors.js';
import { quoteSchema } from './migrations/migrate.js';

/** The store stage's settings the postgres sink reads (stages/sinks/postgres.ts), apart from the driver so config checks need not load it. */
export const POSTGRES_SETTINGS = [
  'postgresUrl',
  'postgresSchema',
  'postgresPoolSize',
  'postgresConnectTimeoutMs',
  'postgresStatementTimeoutMs',
  'postgresIdleTimeoutMs',
] as const;

export interface PostgresOptions {
  /** postgres:// URL (user, password, host, port, database; `?sslmode=require` for TLS). */
  url: string;
  /** Schema holding `products` and `schema_migrations`. @defaultValue "public" */
  schema: string;
  /** Connections the pool may open: statements at once (a store reading several shards writes their batches at once, the others wait). @defaultValue 1 */
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

export const POSTGRES_URL_RE = /^postgres(ql)?:\/\//;

/**
 * The postgres sink's settings but the URL (which may come from env DATABASE_URL, the workers'),
 * with their defaults; `where` names the settings in errors. Checked when the config loads
 * (stages/settings-checks.ts) and again by the sink (postgresOptionsFrom in postgres.ts).
 */
export function postgresSettings(settings: Readonly<Record<string, unknown>>, where: string): Omit<PostgresOptions, 'url'> {
  const known: readonly string[] = POSTGRES_SETTINGS;
  for (const k of Object.keys(settings)) {
    if (k.startsWith('postgres') && !known.includes(k)) throw new ConfigError(`${where}.${k}`, `unknown postgres setting (known: ${known.join(', ')})`);
  }
  const url = settings.postgresUrl;
  if (url !== undefined && (typeof url !== 'string' || !POSTGRES_URL_RE.test(url)))
    throw new ConfigError(`${where}.postgresUrl`, 'expected a postgres:// URL (or leave it out for env DATABASE_URL)');
  const num = (k: string, d: number) => {
    const v = settings[k];
    if (v === undefined) return d;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new ConfigError(`${where}.${k}`, `expected an integer >= 1, got ${JSON.stringify(v)}`);
    return v;
  };
  const schema = settings.postgresSchema ?? POSTGRES_DEFAULTS.schema;
  if (typeof schema !== 'string') throw new ConfigError(`${where}.postgresSchema`, 'expected a string');
  try {
    quoteSchema(schema);
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(`${where}.postgresSchema`, err.reason);
    throw err;
  }
  return {
    schema,
    poolSize: num('postgresPoolSize', POSTGRES_DEFAULTS.poolSize),
    connectTimeoutMs: num('postgresConnectTimeoutMs', POSTGRES_DEFAULTS.connectTimeoutMs),
    statementTimeoutMs: num('postgresStatementTimeoutMs', POSTGRES_DEFAULTS.statementTimeoutMs),
    idleTimeoutMs: num('postgresIdleTimeoutMs', POSTGRES_DEFAULTS.idleTimeoutMs),
  };
}
