import { spawn } from 'node:child_process';
import { createLogger } from '../../lib/logger.js';
import { onShutdownSignal } from '../../lib/shutdown.js';
import { Supervisor } from '../../lib/supervisor.js';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { BIN, loadConfig, type GlobalOptions } from '../common.js';

export interface UpOptions extends GlobalOptions {
  stages?: string;
}

export interface SpawnSettings {
  /** Config file the children load. */
  configPath?: string;
  /** Environment for the children (REDIS_URL etc.). */
  env?: NodeJS.ProcessEnv;
  /** Where children's stdout/stderr go. @defaultValue inherit */
  stdio?: 'inherit' | 'ignore' | number;
}

/** A supervisor whose workers are `pipeline worker <stage>` child processes. */
export function createSupervisor(s: SpawnSettings, logger = createLogger({ component: 'supervisor' })): Supervisor {
  const out = s.stdio ?? 'inherit';
  return new Supervisor({
    logger,
    spawn: (stage) =>
      spawn(process.execPath, [BIN, 'worker', stage, ...(s.configPath ? ['--config', s.configPath] : [])], {
        stdio: ['ignore', out, out],
        env: s.env ?? process.env,
      }),
  });
}

export function selectStages(config: ResolvedConfig, list?: string): string[] {
  const all = config.stages.map((s) => s.name);
  if (!list) return all;
  const wanted = list.split(',').map((s) => s.trim()).filter(Boolean);
  for (const w of wanted) if (!all.includes(w)) throw new Error(`no stage named ${w} (have: ${all.join(', ')})`);
  return wanted;
}

/** `pipeline up`: every stage of the config as child processes, restarted when they crash. */
export async function upCommand(opts: UpOptions): Promise<void> {
  const config = loadConfig(opts);
  const logger = createLogger({ component: 'supervisor' });
  const supervisor = createSupervisor({ configPath: opts.config }, logger);
  for (const name of selectStages(config, opts.stages)) {
    const stage = config.stages.find((s) => s.name === name)!;
    supervisor.scale(name, Math.max(1, stage.minWorkers));
  }
  await new Promise<void>((resolve) => onShutdownSignal(() => supervisor.stop().then(resolve), logger));
}
