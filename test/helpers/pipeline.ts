import { resolveConfig } from '../../lib/config/load.js';
import type { PipelineConfig, ResolvedConfig, StageOptions } from '../../lib/config/types.js';
import { createLogger, silentLogger } from '../../lib/observe/logger.js';
import { loadModuleStages } from '../../lib/worker/modules.js';
import { Worker } from '../../lib/worker/worker.js';
import { StageProcess } from '../../lib/worker/process.js';
import { ok, type StageFactory } from '../../lib/worker/stage.js';
import { TransientError } from '../../lib/core/errors.js';
import { STAGES } from '../../stages/index.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { BIN } from './bin.js';

/** Timers shrunk so reclaim, retries and shutdown happen in milliseconds. */
export const FAST: Partial<StageOptions> = {
  blockMs: 50,
  claimMinIdleMs: 500,
  claimIntervalMs: 100,
  retryBaseMs: 10,
  retryMaxMs: 50,
  keepClaimedMs: 100,
  drainTimeoutMs: 5_000,
};

export function rulesOnlyConfig(url: string, pipeline: string, defaults: Partial<StageOptions> = FAST): ResolvedConfig {
  const raw = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../config/rules-only.json'), 'utf8')) as PipelineConfig;
  return resolveConfig({ ...raw, pipeline, defaults: { ...raw.defaults, ...defaults } }, 'test', { env: { REDIS_URL: url } });
}

/** Run one in-process worker per stage (`kinds`: its stage kinds); returns them (stop them in a finally). */
export function startWorkers(config: ResolvedConfig, perStage = 1, kinds: Record<string, StageFactory> = STAGES): Worker[] {
  const workers: Worker[] = [];
  for (const s of config.stages) {
    for (let i = 0; i < perStage; i++) {
      const w = new Worker({ config, stage: s.name, stages: kinds, index: i, logger: silentLogger });
      w.run().catch((err) => console.error('worker failed', s.name, err));
      workers.push(w);
    }
  }
  return workers;
}

/** One in-process worker per stage, each logging its JSON lines into `logs` (info and up); `stop` stops them and waits for their runs. */
/** One in-process worker per stage, its module stages (`module:<file>` kinds) loaded as `pipeline worker` loads them. */
export async function startModuleWorkers(config: ResolvedConfig): Promise<Worker[]> {
  const stages = { ...STAGES, ...(await loadModuleStages(config)) };
  return config.stages.map((s) => {
    const w = new Worker({ config, stage: s.name, stages, logger: silentLogger });
    w.run().catch((err) => console.error('worker failed', s.name, err));
    return w;
  });
}

export function loggedWorkers(
  config: ResolvedConfig,
  logs: string[] = [],
  stages: Record<string, StageFactory> = STAGES,
): { workers: Worker[]; stop: () => Promise<void> } {
  const logger = createLogger({}, 'info', (l) => logs.push(l));
  const workers = config.stages.map((s) => new Worker({ config, stage: s.name, stages, logger: logger.child({ stage: s.name }) }));
  const runs = workers.map((w) => w.run());
  return {
    workers,
    stop: async () => {
      await Promise.all(workers.map((w) => w.stop()));
      await Promise.all(runs);
    },
  };
}

/** Every stage of `config` in one in-process StageProcess (its stages fused where they may be). */
export function startProcess(config: ResolvedConfig, kinds: Record<string, StageFactory> = STAGES): StageProcess {
  const proc = new StageProcess({ config, stages: config.stages.map((s) => s.name), kinds, logger: silentLogger });
  proc.run().catch((err) => console.error('process failed', proc.name, err));
  return proc;
}

export async function stopAll(workers: readonly { stop(): Promise<void> }[]): Promise<void> {
  await Promise.all(workers.map((w) => w.stop()));
}

/** The raw config of a two-stage pipeline: `stage` reads `in` and routes everything to a Redis store. */
export function stageThenStore(
  pipeline: string,
  stage: { name: string; kind: string },
  defaults: Partial<StageOptions> = FAST,
  extra: Partial<PipelineConfig> = {},
) {
  return {
    pipeline,
    input: 'in',
    defaults,
    stages: [
      { ...stage, input: 'in' },
      { name: 'store', kind: 'store', settings: { sink: 'redis' } },
    ],
    routes: { [stage.name]: [{ to: 'store' }] },
    ...extra,
  };
}

/** One stage `work` of `kind` reading `in`, everything routed to the terminal stream `out`. */
export function oneStageToOut(pipeline: string, kind: string, defaults: Partial<StageOptions>) {
  return {
    pipeline,
    input: 'in',
    streams: { terminal: ['out'] },
    defaults,
    stages: [{ name: 'work', kind, input: 'in' }],
    routes: { work: [{ to: 'out' }] },
  };
}

/** A stage kind that passes every record on, or fails its batch as a dependency outage (TransientError) while `down()`. */
export function outageStage(kind: string, down: () => boolean): StageFactory {
  return () => ({
    kind,
    async process(batch) {
      if (down()) throw new TransientError('dependency down');
      return batch.map(() => ok({ passed: true }));
    },
  });
}

/** Write a rules-only config with this pipeline name and timers to a temp file (for child processes). */
export function writeConfig(pipeline: string, defaults: Partial<StageOptions> = FAST, extra: Record<string, unknown> = {}): string {
  const raw = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../config/rules-only.json'), 'utf8')) as PipelineConfig;
  const file = join(tmpdir(), `${pipeline}-config.json`);
  writeFileSync(file, JSON.stringify({ ...raw, pipeline, defaults: { ...raw.defaults, ...defaults }, ...extra }));
  return file;
}

export { BIN, SOURCE_BIN } from './bin.js';

/** `pipeline <args>` as a child process with REDIS_URL set; output collected. `keepStdin`: stdin stays open for the test to write (and end). */
export function cli(args: string[], url: string, opts: { input?: string | Buffer; keepStdin?: boolean } = {}): ChildProcess & { output: () => string } {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, REDIS_URL: url, LOG_LEVEL: 'info' }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  if (opts.input !== undefined) child.stdin!.end(opts.input);
  else if (!opts.keepStdin) child.stdin!.end();
  return Object.assign(child, { output: () => out });
}

export function exited(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((res) => child.once('exit', (code) => res(code)));
}

/**
 * The child's exit code, or 'running' if it has not exited within `ms` (what then is the caller's
 * call). The timer is cleared as soon as the child exits: left pending, it would hold the test
 * process open for the rest of `ms` after its last test.
 */
export async function exitedWithin(child: ChildProcess, ms: number): Promise<number | null | 'running'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([exited(child), new Promise<'running'>((res) => (timer = setTimeout(() => res('running'), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
