/**
 * Cold start (issue 17): a real `pipeline worker <stage>` process, from spawn to its first batch,
 * per stage kind: a stage without a model (preprocess) and the model stages (classify, extract).
 * Its input already holds one batch; the time is spawn → the first batch read (the hop's `readAt`)
 * and → that batch handed off (`doneAt`), both from the envelopes it forwarded, and the CPU time the
 * process had used by then (which a loaded machine does not stretch as it does wall time). Autoscaling and
 * scale-to-zero pay this on every scale-up. Runs the compiled CLI (dist/, what production runs)
 * when it is built, else the sources through tsx (slower to start), and says which.
 */
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Redis } from 'ioredis';
import { Keys } from '../lib/redis/keys.js';
import { scanEnvelopes } from './envelopes.js';
import { fillStream } from './fill.js';
import { missingModels, modelBenchConfig, REPO } from './model-config.js';
import type { BenchOptions } from './options.js';
import { devTitles } from './records.js';
import { cpuSeconds } from './resources.js';
import type { ColdStartResult, ColdStartResults } from './coldstart-rows.js';
import { writeTempConfig } from './transport-config.js';
import type { TransportSetup } from './transport.js';

const COMPILED = resolve(REPO, 'dist/scripts/cli.js');
const DEV = resolve(REPO, 'scripts/pipeline.mjs');

/** The CLI entry to start: compiled when built (and not older than lib/worker/worker.ts), else tsx. */
function entry(): { form: string; path: string } {
  const fresh = existsSync(COMPILED) && statSync(COMPILED).mtimeMs >= statSync(resolve(REPO, 'lib/worker/worker.ts')).mtimeMs;
  return fresh ? { form: 'compiled', path: COMPILED } : { form: 'tsx', path: DEV };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One cold start: fill a batch into `stage`'s input, spawn its worker, wait for the batch's hop. */
async function once(
  redis: Redis,
  s: TransportSetup,
  stage: string,
  opts: BenchOptions,
  path: string,
): Promise<{ readMs: number; doneMs: number; cpuMs: number }> {
  const { config } = modelBenchConfig(s.pipeline, opts.batchSize, opts.threads, opts.config, false);
  const file = writeTempConfig(config, s.pipeline);
  const keys = new Keys(s.pipeline);
  const st = config.stages.find((x) => x.name === stage)!;
  const recs = devTitles(opts.batchSize);
  await fillStream(redis, keys.stream(st.input ?? st.name), recs.length, (i) => recs[i]!);
  const outputs = [...config.stages.map((x) => keys.stream(x.input ?? x.name)), ...config.streams!.terminal!.map((t) => keys.stream(t))];
  const t0 = Date.now();
  const child = spawn(process.execPath, [path, 'worker', stage, '--config', file], {
    env: { ...process.env, REDIS_URL: s.url, LOG_LEVEL: 'error' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  try {
    const deadline = Date.now() + 120_000;
    let cpu = 0;
    for (;;) {
      // CPU the process has used so far (read before looking: at most one poll late): load on the machine stretches wall time, not this.
      cpu = cpuSeconds(child.pid!) ?? cpu;
      let hop: { readAt: number; doneAt: number } | undefined;
      await scanEnvelopes(redis, outputs, (env) => {
        const h = env.hops.find((x) => x.stage === stage);
        if (h && (!hop || h.doneAt < hop.doneAt)) hop = h;
      });
      if (hop) return { readMs: hop.readAt - t0, doneMs: hop.doneAt - t0, cpuMs: Math.round(cpu * 1000) };
      if (child.exitCode !== null || Date.now() > deadline)
        throw new Error(`cold start of ${stage}: no batch ${child.exitCode !== null ? `(exited ${child.exitCode})` : 'in 120 s'}`);
      await sleep(20);
    }
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

/** Cold start of preprocess and of the first classify and extract stage of the model config, `opts.runs` times each (alternating). */
export async function runColdStartPart(
  redis: Redis,
  opts: BenchOptions,
  log: (line: string) => void,
  fresh: (label: string) => Promise<TransportSetup>,
): Promise<ColdStartResults> {
  const { form, path } = entry();
  const { config } = modelBenchConfig('probe', opts.batchSize, opts.threads, opts.config, false);
  const built = missingModels(config).length === 0;
  const picks = ['preprocess', ...(built ? ['classify', 'extract'] : [])]
    .map((kind) => config.stages.find((s) => s.kind === kind))
    .filter((s): s is NonNullable<typeof s> => !!s)
    .map((s): ColdStartResult => ({ kind: s.kind, stage: s.name, readMs: [], doneMs: [], cpuMs: [] }));
  if (!built) log('cold start: models not built, the stage without a model only');
  for (let run = 1; run <= opts.runs; run++) {
    for (const p of picks) {
      const r = await once(redis, await fresh('cs'), p.stage, opts, path);
      p.readMs.push(r.readMs);
      p.doneMs.push(r.doneMs);
      p.cpuMs.push(r.cpuMs);
      log(
        `run ${run}/${opts.runs} cold start ${p.kind} (${p.stage}, ${form}): first batch read at ${r.readMs} ms, handed off at ${r.doneMs} ms after spawn, ${r.cpuMs} ms of CPU`,
      );
    }
  }
  return { form, stages: picks };
}
