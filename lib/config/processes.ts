/**
 * Stages that share a worker process (stage key `process`): each stage keeps its own consumer
 * group, blocking reader, hand-off, reclaimer and watchdog (records one stage routes to another
 * of the process alone run fused, lib/worker/fusion.ts); the process holds one shared command
 * connection and runs one JS thread for all of them. `pipeline worker a,b`, `pipeline up`,
 * `pipeline start` and the rendered compose/Kubernetes files start one process per group.
 */
import { basename, dirname, extname, join } from 'node:path';
import { ConfigError } from '../core/errors.js';
import type { ResolvedConfig, ResolvedProcess, ResolvedStage, StageOptions } from './types.js';

export type { ResolvedProcess };

/** Group the stages by their `process` (a stage without one is a process alone, named after it), in config order. */
export function groupProcesses(stages: readonly Pick<ResolvedStage, 'name' | 'process'>[]): ResolvedProcess[] {
  const byName = new Map<string, ResolvedProcess>();
  for (const s of stages) {
    const p = byName.get(s.process) ?? byName.set(s.process, { name: s.process, stages: [] }).get(s.process)!;
    p.stages.push(s.name);
  }
  const names = new Set(stages.map((s) => s.name));
  for (const p of byName.values()) {
    // A name is a stage or a process, never both with two meanings: `pipeline worker classify` had run
    // the stage classify alone where the shipped process `classify` (preprocess and classify) was
    // meant, and nothing said so. A process named after its only stage means the same either way.
    if (names.has(p.name) && (p.stages.length > 1 || p.stages[0] !== p.name)) {
      const i = stages.findIndex((s) => s.process === p.name);
      const why = p.stages.includes(p.name)
        ? `(${p.stages.join(', ')}) is named after its stage ${p.name}: \`pipeline worker ${p.name}\` would mean the stage alone or the whole process; give the process a name that is no stage's`
        : `is named after stage ${p.name}, which runs in another process`;
      throw new ConfigError(`stages[${i}].process`, `process ${JSON.stringify(p.name)} ${why}`);
    }
  }
  return [...byName.values()];
}

/** The process that runs `stage`. */
export function processOf(config: Pick<ResolvedConfig, 'processes'>, stage: string): ResolvedProcess {
  const p = config.processes.find((x) => x.stages.includes(stage));
  if (!p) throw new ConfigError('stages', `no stage named ${JSON.stringify(stage)}`);
  return p;
}

/** The names `pipeline worker` takes, stages and processes apart: "stages: a, b; processes: p (a, b)". */
export function namesText(config: Pick<ResolvedConfig, 'stages' | 'processes'>): string {
  const shared = config.processes.filter((p) => p.stages.length > 1);
  const stages = `stages: ${config.stages.map((s) => s.name).join(', ')}`;
  return shared.length ? `${stages}; processes: ${shared.map((p) => `${p.name} (${p.stages.join(', ')})`).join(', ')}` : stages;
}

/**
 * The stages a `pipeline worker` argument names: a comma list of stage names and process names
 * (a process name stands for its stages), without repeats, in config order.
 */
export function stagesNamed(config: Pick<ResolvedConfig, 'stages' | 'processes'>, arg: string): string[] {
  const wanted = new Set<string>();
  const items = arg
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  if (items.length === 0) throw new ConfigError('worker', 'expected a stage name, a comma list of them, or a process name');
  for (const item of items) {
    if (config.stages.some((s) => s.name === item)) wanted.add(item);
    else {
      const p = config.processes.find((x) => x.name === item);
      if (!p) throw new ConfigError('stages', `no stage or process named ${JSON.stringify(item)} (${namesText(config)})`);
      for (const s of p.stages) wanted.add(s);
    }
  }
  return config.stages.map((s) => s.name).filter((n) => wanted.has(n));
}

/**
 * A process's scaling and shutdown settings from its stages' options: it starts the most workers
 * any of its stages asks for (min and max), scales up as soon as the most eager stage would (the
 * smallest `scaleUpLag`, `scaleUpAfterMs` and `autoscaleIntervalMs`), scales down only when every
 * stage would (the largest `scaleDownIdleMs`), and drains for the longest `drainTimeoutMs`;
 * `threads` is what it asks of the CPU (the CPU request of its Kubernetes Deployment).
 */
export function processOptions(
  config: Pick<ResolvedConfig, 'stages'>,
  p: ResolvedProcess,
): Pick<
  StageOptions,
  'minWorkers' | 'maxWorkers' | 'scaleUpLag' | 'scaleUpAfterMs' | 'scaleDownIdleMs' | 'autoscaleIntervalMs' | 'drainTimeoutMs' | 'threads'
> {
  const st = config.stages.filter((s) => p.stages.includes(s.name));
  const max = (k: keyof StageOptions) => Math.max(...st.map((s) => s[k]));
  const min = (k: keyof StageOptions) => Math.min(...st.map((s) => s[k]));
  return {
    minWorkers: max('minWorkers'),
    maxWorkers: max('maxWorkers'),
    scaleUpLag: min('scaleUpLag'),
    scaleUpAfterMs: min('scaleUpAfterMs'),
    scaleDownIdleMs: max('scaleDownIdleMs'),
    autoscaleIntervalMs: min('autoscaleIntervalMs'),
    drainTimeoutMs: max('drainTimeoutMs'),
    // ONNX threads of the process's busiest model stage: its stages take turns on one JS thread,
    // and stages without a model use none (a sum over all of them asked 6 CPUs for `enrich`).
    threads: Math.max(1, ...st.filter((s) => s.model !== undefined).map((s) => s.threads)),
  };
}

/** A stage's own progress file in a process running several: `/tmp/progress.json` → `/tmp/progress.<stage>.json`. */
export function progressFileFor(file: string, stage: string): string {
  const ext = extname(file);
  return join(dirname(file), `${basename(file, ext)}.${stage}${ext}`);
}
