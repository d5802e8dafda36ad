import { onShutdownSignal } from '../../lib/worker/shutdown.js';
import { parseShardList } from '../../lib/redis/shard.js';
import { loadModuleStages } from '../../lib/worker/modules.js';
import { Worker } from '../../lib/worker/worker.js';
import { STAGES } from '../../stages/index.js';
import { loadConfig, type GlobalOptions } from './common.js';

/** `pipeline worker <stage>`: one stage consumer; SIGTERM drains and exits 0. */
export async function workerCommand(stage: string, opts: GlobalOptions & { shards?: string }): Promise<void> {
  const config = loadConfig(opts);
  const shards = parseShardList(opts.shards ?? process.env.WORKER_SHARDS, config.shards, opts.shards !== undefined ? '--shards' : 'env WORKER_SHARDS');
  // `module:` kinds (the user's own stage modules) are imported for this worker's stage only.
  const own = await loadModuleStages(
    config,
    config.stages.filter((s) => s.name === stage),
  );
  const worker = new Worker({ config, stage, stages: { ...STAGES, ...own }, shards });
  onShutdownSignal(() => worker.stop(), worker.logger);
  try {
    await worker.run();
  } finally {
    await worker.stop();
  }
  // A batch that outlived drainTimeoutMs may still hold timers; its entries stay pending for others.
  process.exit(process.exitCode ?? 0);
}
