import type { ResolvedStage } from '../../lib/config/types.js';
import { ConfigError } from '../../lib/core/errors.js';
import { isPostgresRefusal, isTransientPgError } from '../../lib/core/failure-policy.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { schemaProblem } from './migrations/migrate.js';
import { createPool, postgresOptionsFrom } from './postgres.js';
import { loginRefusedLine, privilegeLine, privilegeProblem } from './privileges.js';

/**
 * The start check of `pipeline up` (and `start`) for store stages with the postgres sink: a schema
 * that lacks a migration or its objects is a ConfigError naming `pipeline store migrate` now, not
 * a store worker refusing to start in a restart loop. So is a role the database refuses (its login,
 * or a privilege the sink needs: the line names the role, the table, the privilege and the GRANT):
 * a configuration error, not an outage. A database that cannot be reached yet is left to the
 * workers, which wait for it (as a worker's own start does).
 */
export async function checkSinkSchemas(stages: readonly ResolvedStage[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  for (const stage of stages) {
    if (stage.kind !== 'store' || stage.settings.sink !== 'postgres') continue;
    const o = postgresOptionsFrom(stage.settings, env, `stages.${stage.name}.settings`);
    const pool = createPool(o, silentLogger, 'pipeline:start-check');
    let problem: string | undefined;
    try {
      const denied = await privilegeProblem(pool, o.schema);
      problem = denied ? privilegeLine(denied) : await schemaProblem(pool, o.schema);
    } catch (err) {
      if (isPostgresRefusal(err)) problem = /^28/.test(String((err as { code?: unknown }).code)) ? loginRefusedLine(err, o.url) : (err as Error).message;
      else if (!isTransientPgError(err)) throw err;
    } finally {
      await pool.end();
    }
    if (problem) throw new ConfigError(`stages.${stage.name}: postgres schema ${o.schema}`, problem);
  }
}
