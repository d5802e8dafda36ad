/**
 * `--parts colocate`: stages sharing a process (config `process`, lib/worker/process.ts) against
 * one process per stage, alternating, in one run: the transport pipeline on both sides (the
 * project's Workers, and the hand-written loops as three processes or three loops in one), its
 * latency at the same paced rate, and the model pipeline (every model stage in one process).
 */
import type { Redis } from 'ioredis';
import { Keys } from '../lib/redis/keys.js';
import { measureLatency } from './latency.js';
import { missingModels, modelBenchConfig } from './model-config.js';
import { projectRig } from './models.js';
import type { BenchOptions } from './options.js';
import { devTitles, syntheticRecord } from './records.js';
import { runLine } from './report.js';
import type { ColocateResults, Pair } from './colocate-report.js';
import { measureThroughput, streamFill } from './rig.js';
import { median } from './stats.js';
import { writeTempConfig } from './transport-config.js';
import { baselineTransport, projectTransport, transportInput, type TransportSetup } from './transport.js';

const pair = <T>(): Pair<T> => ({ perStage: [], oneProcess: [] });
const MODES = [
  ['perStage', false],
  ['oneProcess', true],
] as const;

export async function runColocatePart(
  redis: Redis,
  opts: BenchOptions,
  log: (line: string) => void,
  fresh: (label: string) => Promise<TransportSetup>,
): Promise<ColocateResults> {
  const out: ColocateResults = { transportProject: pair(), transportBaseline: pair(), transportLatency: pair(), models: pair() };
  const fill = (s: TransportSetup) => streamFill(redis, transportInput(s.pipeline), syntheticRecord);
  for (let run = 1; run <= opts.runs; run++) {
    for (const [mode, colocate] of MODES) {
      const s = { ...(await fresh(`cp${mode[0]}`)), colocate, cpuProfDir: opts.cpuProf && `${opts.cpuProf}/colocate-${mode}` };
      const r = await measureThroughput(redis, () => projectTransport(s), opts.records, fill(s));
      out.transportProject[mode].push(r);
      log(`run ${run}/${opts.runs} colocate transport project ${mode}: ${runLine(r)}`);
    }
    for (const [mode, colocate] of MODES) {
      const s = { ...(await fresh(`cb${mode[0]}`)), colocate };
      const r = await measureThroughput(redis, () => baselineTransport(s), opts.records, fill(s));
      out.transportBaseline[mode].push(r);
      log(`run ${run}/${opts.runs} colocate transport loop ${mode}: ${runLine(r)}`);
    }
  }
  const rate = opts.rate ?? Math.max(1, Math.round((median(out.transportProject.perStage.map((r) => r.recordsPerSec)) ?? 10_000) * opts.load));
  for (let run = 1; run <= opts.runs; run++) {
    for (const [mode, colocate] of MODES) {
      const s = { ...(await fresh(`cl${mode[0]}`)), colocate };
      const l = await measureLatency(redis, () => projectTransport(s), rate, opts.latencySeconds, syntheticRecord, opts.warmupSeconds);
      out.transportLatency[mode].push(l);
      log(`run ${run}/${opts.runs} colocate latency project ${mode} at ${rate}/s: p50 ${l.p50Ms} ms, p99 ${l.p99Ms} ms, max ${l.maxMs} ms`);
    }
  }
  const probe = modelBenchConfig('probe', opts.batchSize, opts.threads, opts.config);
  const missing = missingModels(probe.config);
  if (missing.length || opts.skipModels) {
    out.modelsNote = missing.length ? `models not built (${missing.join(', ')})` : 'models skipped (--skip-models)';
    return out;
  }
  const recs = devTitles(Math.max(opts.modelRecords, 1));
  for (let run = 1; run <= opts.runs; run++) {
    for (const [mode, colocate] of MODES) {
      const s = await fresh(`cm${mode[0]}`);
      const { config } = modelBenchConfig(s.pipeline, opts.batchSize, opts.threads, opts.config, colocate);
      const file = writeTempConfig(config, s.pipeline);
      const input = new Keys(s.pipeline).stream(config.input ?? 'in');
      const r = await measureThroughput(
        redis,
        async () => projectRig(s.url, s.pipeline, file, config, opts.cpuProf && `${opts.cpuProf}/colocate-${mode}`),
        recs.length,
        streamFill(redis, input, (i) => recs[i % recs.length]!),
      );
      out.models[mode].push(r);
      log(`run ${run}/${opts.runs} colocate models ${mode}: ${runLine(r)}`);
    }
  }
  return out;
}
