import { fromEnv } from '../../lib/core/env-origin.js';
import { stagesNamed } from '../../lib/config/processes.js';
import { createLogger } from '../../lib/observe/logger.js';
import { onShutdownSignal } from '../../lib/worker/shutdown.js';
import { parseShardList } from '../../lib/redis/shard.js';
import { loadModuleStages } from '../../lib/worker/modules.js';
import { StageProcess } from '../../lib/worker/process.js';
import { loadStageKinds } from '../../stages/kinds.js';
import { stageDataAccess } from '../../stages/access.js';
import { stageProbes } from '../../lib/ops/acl-grants.js';
import type { ResolvedStage } from '../../lib/config/types.js';
import { loadConfig, noteConnectionError, refuseTlsMismatch, type GlobalOptions } from './common.js';

/**
 * `pipeline worker <stage>[,<stage>...]`: one process running those stages' consumers (a process
 * name from the config stands for its stages; lib/worker/process.ts); SIGTERM drains and exits 0.
 */
export async function workerCommand(arg: string, opts: GlobalOptions & { shards?: string }): Promise<void> {
  // The handler goes in first: a SIGTERM while the config and stage kinds load stops the start-up
  // cleanly (exit 0) instead of killing the process by the default action.
  let proc: StageProcess | undefined;
  let stopRequested = false;
  onShutdownSignal(
    async () => {
      stopRequested = true;
      await proc?.stop();
    },
    createLogger({ stage: arg, pid: process.pid }),
    // Started by `pipeline up` / `start` (an IPC channel): drain and exit when that parent is gone.
    { parentGone: true },
  );
  const config = loadConfig(opts);
  const stages = stagesNamed(config, arg);
  const shards = parseShardList(opts.shards ?? process.env.WORKER_SHARDS, config.shards, opts.shards !== undefined ? '--shards' : fromEnv('WORKER_SHARDS'));
  // Only this process's stage kinds are imported (built-in ones and the user's `module:` ones): a shorter cold start.
  const mine = config.stages.filter((s) => stages.includes(s.name));
  refuseTlsMismatch(mine.map((s) => s.redisUrl));
  const [builtIn, own] = await Promise.all([loadStageKinds(mine.map((s) => s.kind)), loadModuleStages(config, mine)]);
  // Each stage's commands are checked against its Redis user at start (ACL DRYRUN): a missing permission exits 13 naming it.
  const permissionProbes = (s: ResolvedStage) => stageProbes(config, s, stageDataAccess);
  proc = new StageProcess({ config, stages, kinds: { ...builtIn, ...own }, shards, onConnectionError: noteConnectionError, permissionProbes });
  try {
    if (!stopRequested) await proc.run();
  } finally {
    await proc.stop();
  }
  // A batch that outlived drainTimeoutMs may still hold timers; its entries stay pending for others.
  process.exit(process.exitCode ?? 0);
}
