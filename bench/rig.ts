import type { Redis } from 'ioredis';
import type { ProductRecord } from '../lib/stream/codec.js';
import { allReady, stopAll, type BenchChild } from './children.js';
import { fillStream, lastArrivalMs, totalLength } from './fill.js';
import { meanBatchSizes } from './envelopes.js';
import { connectionsByPid, redisCommandStats, redisCpuSeconds, RssSampler } from './resources.js';

/** A running pipeline under test: its stage processes (gated), where records go in, where they end. */
export interface Rig {
  side: string;
  children: BenchChild[];
  /** Full key of the stream records are added to. */
  input: string;
  /** Full keys of the streams where every record ends (terminal streams and the DLQ). */
  outputs: string[];
  /** How many records have arrived, for a rig whose outputs are not streams (BullMQ). @defaultValue XLEN of `outputs` summed */
  arrived?: () => Promise<number>;
}

/** Per-stage resource use seen during a run: peak RSS (max over the stage's processes) and connections per process. */
export interface StageResources {
  stage: string;
  processes: number;
  peakRssMb: number;
  connectionsPerProcess: number;
  /** CPU seconds the stage's processes used while measured. */
  cpuSeconds: number;
  /**
   * Mean size of the batches each stage of the process group ran, in the group's order (from the
   * envelopes' hops; undefined without them; NaN for a stage no hop names, e.g. a fused one).
   */
  meanBatch?: number[];
}

export interface ThroughputResult {
  side: string;
  records: number;
  seconds: number;
  recordsPerSec: number;
  stages: StageResources[];
  /** CPU seconds redis-server used while measured. */
  redisCpuSeconds: number;
  /** Redis commands while measured: calls and microseconds per command (the bench's own polling included). */
  redisCommands: Record<string, { calls: number; usec: number }>;
}

/** CPU microseconds per record: every stage process plus redis-server, while measured. */
export const cpuPerRecord = (r: ThroughputResult) => ((r.stages.reduce((s, x) => s + x.cpuSeconds, 0) + r.redisCpuSeconds) / r.records) * 1e6;

/** Stage label of a child: the part before the first '#' (`s1#0` → `s1`). */
const stageOf = (c: BenchChild) => c.label.split('#')[0]!;

export async function resourcesOf(redis: Redis, rig: Rig, sampler: RssSampler, cpuAtStart: Map<number, number>): Promise<StageResources[]> {
  const peaks = sampler.stop();
  const cpu = sampler.cpuSeconds();
  const conns = await connectionsByPid(redis);
  const byStage = new Map<string, BenchChild[]>();
  for (const c of rig.children) byStage.set(stageOf(c), [...(byStage.get(stageOf(c)) ?? []), c]);
  return [...byStage].map(([stage, cs]) => ({
    stage,
    processes: cs.length,
    peakRssMb: Math.max(...cs.map((c) => peaks.get(c.pid) ?? 0)),
    connectionsPerProcess: Math.max(...cs.map((c) => conns.get(c.pid) ?? 0)),
    cpuSeconds: cs.reduce((sum, c) => sum + (cpu.get(c.pid) ?? 0) - (cpuAtStart.get(c.pid) ?? 0), 0),
  }));
}

/** Poll until the outputs hold `n` entries in total, or throw after `timeoutMs`. */
export async function waitForOutputs(redis: Redis, rig: Rig, n: number, timeoutMs: number, everyMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const have = rig.arrived ? await rig.arrived() : await totalLength(redis, rig.outputs);
    if (have >= n) return;
    if (Date.now() > deadline) throw new Error(`timed out: ${have} of ${n} records arrived in ${rig.outputs.join(', ')}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Pre-fill `n` records into an input stream, in the producer's entry format. */
export const streamFill = (redis: Redis, inputKey: string, record: (i: number) => ProductRecord) => (n: number) => fillStream(redis, inputKey, n, record);

/**
 * Throughput: `n` records pre-filled into the input, then the stages (already loaded and
 * connected) are let go at t0; t1 is the server time of the last arrival in the outputs (for a
 * rig that counts arrivals itself, the time its count reached `n`).
 */
export async function measureThroughput(redis: Redis, start: () => Promise<Rig>, n: number, fill: (n: number) => Promise<void>): Promise<ThroughputResult> {
  await fill(n);
  const rig = await start();
  try {
    await allReady(rig.children);
    const sampler = new RssSampler(rig.children.map((c) => c.pid)).start();
    const cpuAtStart = new Map(sampler.cpuSeconds());
    const redisCpu0 = await redisCpuSeconds(redis);
    await redis.config('RESETSTAT');
    const t0 = Date.now();
    for (const c of rig.children) c.go();
    await waitForOutputs(redis, rig, n, 60_000 + n * 10);
    const t1 = rig.arrived ? Date.now() : await lastArrivalMs(redis, rig.outputs);
    const redisCpu = (await redisCpuSeconds(redis)) - redisCpu0;
    const redisCommands = await redisCommandStats(redis);
    const stages = await resourcesOf(redis, rig, sampler, cpuAtStart);
    if (!rig.arrived) {
      const sizes = await meanBatchSizes(redis, rig.outputs);
      for (const s of stages) s.meanBatch = s.stage.split('+').map((name) => sizes.get(name) ?? NaN);
    }
    const seconds = Math.max(1, t1 - t0) / 1000;
    return { side: rig.side, records: n, seconds, recordsPerSec: n / seconds, stages, redisCpuSeconds: redisCpu, redisCommands };
  } finally {
    await stopAll(rig.children);
  }
}
