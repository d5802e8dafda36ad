import type { ResolvedConfig } from '../../lib/config/types.js';
import { loadModuleStages } from '../../lib/worker/modules.js';
import { checkModelFolder } from '../../stages/domain/model-options.js';
import { checkSinkSchemas } from '../../stages/sinks/start-check.js';

/**
 * What `pipeline up`, `start` and `eval` check before any worker starts, so a broken setup is one
 * error line naming the stage, not workers restarted in a loop: each `module:` stage loads, and
 * each model stage's model folder is there with its files readable (checkModelFolder), and a
 * Postgres store's schema is migrated (checkSinkSchemas; a database not reachable yet is left to the workers).
 */
export async function checkBeforeStart(config: ResolvedConfig, stages: readonly string[] = config.stages.map((s) => s.name)): Promise<void> {
  const mine = config.stages.filter((s) => stages.includes(s.name));
  await loadModuleStages(config, mine);
  for (const s of mine) checkModelFolder(s);
  await checkSinkSchemas(mine);
}
