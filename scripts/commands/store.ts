import { ConfigError } from '../../lib/core/errors.js';
import { createLogger } from '../../lib/observe/logger.js';
import { findStoreStage } from '../../stages/sinks/export.js';
import { migrate } from '../../stages/sinks/migrations/migrate.js';
import { createPool, postgresOptionsFrom, type PostgresOptions } from '../../stages/sinks/postgres.js';
import type { ResolvedStage } from '../../lib/config/types.js';
import { loadConfig, type GlobalOptions } from './common.js';

export interface PostgresCliOptions extends GlobalOptions {
  /** Store stage whose settings to use. @defaultValue the stage of kind store */
  stage?: string;
  /** Overrides settings.postgresUrl and DATABASE_URL. */
  databaseUrl?: string;
  /** Overrides settings.postgresSchema. */
  schema?: string;
}

export interface StoreMigrateOptions extends PostgresCliOptions {
  /** One attempt's wait for a table lock (stages/sinks/migrations/lock-wait.ts). @defaultValue 2000 */
  lockTimeout?: number;
  /** How long attempts go on. @defaultValue 60000 */
  lockWait?: number;
}

/**
 * Postgres options of a store stage's settings with the command line's overrides (`store
 * migrate`, `export` and `reprocess` of the postgres sink). An error names what the user gave:
 * `--database-url` (by its scheme alone: the URL may hold a password) or `--schema`; a URL
 * missing from the config says the option can give it. Each had been blamed on
 * settings.postgresUrl, with "(or pass --database-url)" added even when it was passed.
 */
export function postgresOptionsForCli(stage: ResolvedStage, opts: PostgresCliOptions): PostgresOptions {
  if (opts.databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(opts.databaseUrl)) {
    const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(opts.databaseUrl)?.[0];
    throw new ConfigError('--database-url', `expected a postgres:// (or postgresql://) URL, got ${scheme ? `one starting ${scheme}//` : 'no URL scheme'}`);
  }
  const settings = { ...stage.settings };
  if (opts.databaseUrl) settings.postgresUrl = opts.databaseUrl;
  if (opts.schema) settings.postgresSchema = opts.schema;
  try {
    return postgresOptionsFrom(settings, process.env, `stages.${stage.name}.settings`);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    if (opts.schema && err.where.endsWith('.postgresSchema')) throw new ConfigError('--schema', err.reason);
    if (err.where.endsWith('.postgresUrl')) throw new Error(`${err.message} (or pass --database-url)`, { cause: err });
    throw err;
  }
}

/** `pipeline store migrate`: apply the postgres sink's pending migrations (idempotent), print what was applied. */
export async function storeMigrateCommand(opts: StoreMigrateOptions): Promise<void> {
  const logger = createLogger({ component: 'migrate' }, 'warn');
  const o = postgresOptionsForCli(findStoreStage(loadConfig(opts), opts.stage), opts);
  const pool = createPool(o, logger, 'pipeline:migrate');
  try {
    const result = await migrate(pool, { schema: o.schema, logger, lockTimeoutMs: opts.lockTimeout, lockWaitMs: opts.lockWait });
    process.stdout.write(JSON.stringify({ event: 'store.migrated', ...result }) + '\n');
  } finally {
    await pool.end();
  }
}
