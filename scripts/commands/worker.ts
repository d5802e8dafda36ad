import { stagesNamed } from '../../lib/config/processes.js';
import { onShutdownSignal } from '../../lib/worker/shutdown.js';
import { parseShardList } from '../../lib/redis/shard.js';
import { loadModuleStages } from '../../lib/worker/modules.js';
import { StageProcess } from '../../lib/worker/process.js';
import { STAGES } from '../../stages/index.js';
import { loadConfig, type GlobalOptions } from './common.js';

/**
 * `pipeline worker <stage>[,<stage>...]`: one process running those stages' consumers (a process
 * name from the config stands for its stages; lib/worker/process.ts); SIGTERM drains and exits 0.
 */
export async function workerCommand(arg: string, opts: GlobalOptions & { shards?: string }): Promise<void> {
  const config = loadConfig(opts);
  const stages = stagesNamed(config, arg);
  const shards = parseShardList(opts.shards ?? process.env.WORKER_SHARDS, config.shards, opts.shards !== undefined ? '--shards' : 'env WORKER_SHARDS');
  // `module:` kinds (the user's own stage modules) are imported for this process's stages only.
  const own = await loadModuleStages(
    config,
    config.stages.filter((s) => stages.includes(s.name)),
  );
  const proc = new StageProcess({ config, stages, kinds: { ...STAGES, ...own }, shards });
  onShutdownSignal(() => proc.stop(), proc.logger);
  try {
    await proc.run();
  } finally {
    await proc.stop();
  }
  // A batch that outlived drainTimeoutMs may still hold timers; its entries stay pending for others.
  process.exit(process.exitCode ?? 0);
}
