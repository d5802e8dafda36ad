import { ConfigError } from '../../lib/core/errors.js';
import { createLogger } from '../../lib/observe/logger.js';
import { findStoreStage } from '../../stages/sinks/export.js';
import { migrate } from '../../stages/sinks/migrations/migrate.js';
import { createPool, postgresOptionsFrom, type PostgresOptions } from '../../stages/sinks/postgres.js';
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

/** Postgres options of the config's store stage, with the command line's overrides. */
export function postgresOptionsForCli(opts: PostgresCliOptions): PostgresOptions {
  const config = loadConfig(opts);
  const stage = findStoreStage(config, opts.stage);
  const settings = { ...stage.settings };
  if (opts.databaseUrl) settings.postgresUrl = opts.databaseUrl;
  if (opts.schema) settings.postgresSchema = opts.schema;
  return postgresOptionsFrom(settings, process.env, `stages.${stage.name}.settings`);
}

/** `pipeline store migrate`: apply the postgres sink's pending migrations (idempotent), print what was applied. */
export async function storeMigrateCommand(opts: StoreMigrateOptions): Promise<void> {
  const logger = createLogger({ component: 'migrate' }, 'warn');
  let o: PostgresOptions;
  try {
    o = postgresOptionsForCli(opts);
  } catch (err) {
    if (err instanceof ConfigError) throw new Error(`${err.message} (or pass --database-url)`, { cause: err });
    throw err;
  }
  const pool = createPool(o, logger, 'pipeline:migrate');
  try {
    const result = await migrate(pool, { schema: o.schema, logger, lockTimeoutMs: opts.lockTimeout, lockWaitMs: opts.lockWait });
    process.stdout.write(JSON.stringify({ event: 'store.migrated', ...result }) + '\n');
  } finally {
    await pool.end();
  }
}
