import { pauseStages, resumeStages } from '../../lib/ops/pause.js';
import { isPermissionRefusal } from '../../lib/core/failure-policy.js';
import { adminOnlyRefusal, cliActor, cliRedis, loadConfig, type GlobalOptions } from './common.js';

export interface PauseOptions extends GlobalOptions {
  reason?: string;
}

/**
 * `pipeline pause <stage|all> [--reason TEXT]` and `pipeline resume <stage|all>`: set or clear the
 * stages' paused flag (lib/ops/pause.ts) as the admin (REDIS_URL). The workers finish the batch in
 * hand and hold still within `pausePollMs`; one line per stage on stdout.
 */
export async function pauseCommand(action: 'pause' | 'resume', target: string, opts: PauseOptions): Promise<void> {
  const config = loadConfig(opts);
  const redis = cliRedis(config.redis.url);
  try {
    if (action === 'pause') {
      const stages = await pauseStages(redis, config, target, { by: cliActor(), reason: opts.reason });
      for (const s of stages)
        process.stdout.write(
          `paused ${s}${opts.reason ? ` (${opts.reason})` : ''}: its workers finish the batch in hand, then read nothing until \`pipeline resume ${s}\`\n`,
        );
    } else {
      const stages = await resumeStages(redis, config, target);
      const named = target === 'all' ? config.stages.map((s) => s.name) : [target];
      for (const s of named) process.stdout.write(stages.includes(s) ? `resumed ${s}\n` : `${s} was not paused\n`);
    }
  } catch (err) {
    throw isPermissionRefusal(err) ? await adminOnlyRefusal(err, `pipeline ${action}`, "writes a stage's paused flag", config.redis.url) : err;
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
}
