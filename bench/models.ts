import type { Redis } from 'ioredis';
import { Keys } from '../lib/redis/keys.js';
import { groupProcesses } from '../lib/config/processes.js';
import type { PipelineConfig } from '../lib/config/types.js';
import { spawnChild, type BenchChild } from './children.js';
import { measureLatency } from './latency.js';
import { benchStages, missingModels, MODEL_OUT, modelBenchConfig } from './model-config.js';
import type { BenchOptions } from './options.js';
import { devTitles } from './records.js';
import { runLine, type BenchResults } from './report.js';
import { RssSampler } from './resources.js';
import { measureThroughput, streamFill, type Rig, type ThroughputResult } from './rig.js';
import { median } from './stats.js';
import { scanEnvelopes } from './envelopes.js';
import { compareDigests, outputDigest, outputsLine } from './model-outputs.js';
import { writeTempConfig } from './transport-config.js';
import type { TransportSetup } from './transport.js';

/** The model pipeline's worker processes: one per stage, except stages that share a `process`. */
export function modelProcesses(config: PipelineConfig): string[][] {
  return groupProcesses(benchStages(config).map((s) => ({ name: s.name, process: s.process ?? s.name }))).map((p) => p.stages);
}

/** The project's model pipeline: real Worker processes (model-worker.ts), one per config process. */
export function projectRig(url: string, pipeline: string, file: string, config: PipelineConfig, cpuProf?: string): Rig {
  const keys = new Keys(pipeline);
  const ends = [...config.streams!.terminal!, MODEL_OUT];
  const children: BenchChild[] = modelProcesses(config).map((g) =>
    spawnChild(`${g.join('+')}#0`, 'model-worker.ts', [file, g.join(',')], { env: { REDIS_URL: url }, cpuProfDir: cpuProf && `${cpuProf}/model-project` }),
  );
  return { side: 'project', children, input: keys.stream('in'), outputs: [...ends.map((t) => keys.stream(t)), keys.dlq] };
}

/** Each record's output digest (bench/model-outputs.ts) from the envelopes in `streams`, by record id. */
async function projectDigests(redis: Redis, streams: readonly string[]): Promise<Map<string, string>> {
  const m = new Map<string, string>();
  await scanEnvelopes(redis, streams, (env) => m.set(env.input.id, outputDigest(env.outputs)));
  return m;
}

/** The bare loop in one process: its own timing (after models are loaded), its peak RSS from /proc, each record's output digest. */
async function bareRun(
  file: string,
  records: number,
  batch: number,
  threads: number,
  cpuProf?: string,
  outputs = false,
): Promise<ThroughputResult & { outputs?: Record<string, string> }> {
  const child = spawnChild('bare#0', 'bare-models.ts', [file, String(records), String(batch), String(threads), ...(outputs ? ['outputs'] : [])], {
    cpuProfDir: cpuProf && `${cpuProf}/model-bare`,
  });
  try {
    await child.ready;
    const sampler = new RssSampler([child.pid]).start();
    const cpu0 = sampler.cpuSeconds().get(child.pid) ?? 0;
    child.go();
    const r = (await child.result) as { records: number; done: number; seconds: number; outputs?: Record<string, string> };
    const peaks = sampler.stop();
    await Promise.race([child.exited, new Promise((res) => setTimeout(res, 10_000))]); // it leaves by itself
    if (r.done !== r.records) throw new Error(`bare loop finished ${r.done} of ${r.records} records`);
    const cpu = (sampler.cpuSeconds().get(child.pid) ?? cpu0) - cpu0;
    return {
      side: 'baseline',
      records: r.records,
      seconds: r.seconds,
      recordsPerSec: r.records / r.seconds,
      stages: [{ stage: 'bare', processes: 1, peakRssMb: peaks.get(child.pid) ?? 0, connectionsPerProcess: 0, cpuSeconds: cpu }],
      redisCpuSeconds: 0,
      redisCommands: {},
      outputs: r.outputs,
    };
  } finally {
    await child.stop();
  }
}

/**
 * The model part: the project's preprocess → classify → extract.* pipeline against the bare loop,
 * alternating, then (project only) latency at `load` of the measured capacity. Prints
 * 'models not built' and returns when a model file is missing.
 */
export async function runModelPart(
  redis: Redis,
  url: string,
  opts: BenchOptions,
  out: BenchResults['models'],
  log: (line: string) => void,
  fresh: (label: string) => Promise<TransportSetup>,
): Promise<void> {
  if (!opts.parts.has('models')) {
    out.status = 'skipped';
    log('models: skipped (--parts)');
    return;
  }
  const probe = modelBenchConfig('probe', opts.batchSize, opts.threads, opts.config, opts.colocate);
  const missing = missingModels(probe.config);
  if (missing.length) {
    out.status = 'not built';
    out.note = `missing ${missing.join(', ')}; npm run models builds them`;
    log(`models not built: ${out.note}`);
    return;
  }
  const bareThreads = opts.bareThreads ?? opts.threads;
  out.note = `config ${probe.source}; ${benchStages(probe.config).length} stages in ${modelProcesses(probe.config).length} processes, threads ${opts.threads} each; bare loop threads ${bareThreads}`;
  log(`models: ${out.note}`);
  try {
    const recs = devTitles(Math.max(opts.modelRecords, 1));
    const records = (i: number) => recs[i % recs.length]!;
    for (let run = 1; run <= opts.runs; run++) {
      const s = await fresh('mp');
      const { config } = modelBenchConfig(s.pipeline, opts.batchSize, opts.threads, opts.config, opts.colocate);
      const file = writeTempConfig(config, s.pipeline);
      const input = new Keys(s.pipeline).stream(config.input ?? 'in');
      const p = await measureThroughput(
        redis,
        async () => projectRig(url, s.pipeline, file, config, opts.cpuProf),
        recs.length,
        streamFill(redis, input, records),
      );
      out.project.push(p);
      log(`run ${run}/${opts.runs} models project: ${runLine(p)}`);
      const { outputs: bareOutputs, ...b } = await bareRun(file, recs.length, opts.batchSize, bareThreads, opts.cpuProf, opts.checkOutputs && run === 1);
      out.baseline.push(b);
      log(`run ${run}/${opts.runs} models bare loop: ${runLine(b)}`);
      if (bareOutputs) {
        out.outputs = compareDigests(await projectDigests(redis, [new Keys(s.pipeline).stream(MODEL_OUT)]), bareOutputs);
        log(`models outputs: ${outputsLine(out.outputs)}`);
      }
    }
    const capacity = median(out.project.map((r) => r.recordsPerSec))!;
    const rate = Math.max(1, Math.round(capacity * opts.load));
    for (let run = 1; run <= opts.runs && opts.parts.has('latency'); run++) {
      const s = await fresh('ml');
      const { config } = modelBenchConfig(s.pipeline, opts.batchSize, opts.threads, opts.config, opts.colocate);
      const file = writeTempConfig(config, s.pipeline);
      const rig = () => Promise.resolve(projectRig(url, s.pipeline, file, config));
      const l = await measureLatency(redis, rig, rate, opts.latencySeconds, records, opts.warmupSeconds);
      out.latency.push(l);
      log(`run ${run}/${opts.runs} models latency project at ${rate}/s: p50 ${l.p50Ms} ms, p99 ${l.p99Ms} ms, max ${l.maxMs} ms (${l.records} records)`);
    }
    out.status = 'measured';
  } catch (err) {
    out.status = 'failed';
    out.note = `${out.note}; ${err instanceof Error ? err.message : String(err)}`;
    log(`models failed: ${out.note}`);
  }
}
