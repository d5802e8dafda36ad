import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { encodeEnvelope, FIELD_ENVELOPE, FIELD_KEY, newEnvelope, type ProductRecord } from '../lib/stream/codec.js';
import { scanEnvelopes } from './envelopes.js';
import { allReady, stopAll } from './children.js';
import { totalLength } from './fill.js';
import { RssSampler } from './resources.js';
import { resourcesOf, waitForOutputs, type Rig, type StageResources } from './rig.js';
import { percentile } from './stats.js';
import { PacedConnection } from './pacer.js';
import { encodeCommand } from '../lib/redis/resp.js';

export interface LatencyResult {
  side: string;
  /** Offered load, records/s. */
  rate: number;
  records: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Per hop (stage): p50/p99 of the wait before it read the entry and of its batch time (read to done). */
  hops: { stage: string; waitP50Ms: number; waitP99Ms: number; batchP50Ms: number; batchP99Ms: number; meanBatchSize: number }[];
  stages: StageResources[];
  /**
   * Share of the paced period in which some runnable task waited for a CPU (Linux PSI,
   * /proc/pressure/cpu "some"): how much of the tail is the machine's run queue rather than the
   * pipeline. Undefined where PSI is not available.
   */
  cpuPressurePct?: number;
}

/** Microseconds some task has waited for a CPU since boot (PSI), or undefined without PSI. */
function cpuPressureUs(): number | undefined {
  try {
    const m = /^some .*total=(\d+)/m.exec(readFileSync('/proc/pressure/cpu', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * XADD records at `rate`/s for `seconds`, in ticks of about a millisecond, each stamped with its
 * produce time, on the pacer's own connection (bench/pacer.ts); replies are awaited only at the end.
 */
async function paced(
  conn: PacedConnection,
  input: string,
  rate: number,
  seconds: number,
  record: (i: number) => ProductRecord,
  first: number,
): Promise<number> {
  const t0 = Date.now();
  let sent = 0;
  const total = Math.round(rate * seconds);
  while (sent < total) {
    const due = Math.min(total, Math.floor(((Date.now() - t0) / 1000) * rate));
    if (due > sent) {
      const now = Date.now();
      const commands: Buffer[] = [];
      for (; sent < due; sent++) {
        const r = record(first + sent);
        commands.push(encodeCommand('XADD', [input, '*', FIELD_KEY, r.id, FIELD_ENVELOPE, encodeEnvelope(newEnvelope(r, now))]));
      }
      conn.write(commands); // the pace must not wait on the round trip
    }
    await sleep(1);
  }
  await conn.drain();
  return sent;
}

interface Timings {
  e2e: number[];
  wait: Map<string, number[]>;
  batch: Map<string, number[]>;
  size: Map<string, number[]>;
}

/**
 * End-to-end latency of every entry in `streams` after `afterId` that was produced at or after
 * `producedFrom`: server arrival time (entry id) minus producedAt; and per hop, the wait since the
 * previous hop was done (or produced) and the hop's own batch time.
 */
async function latencies(redis: Redis, streams: readonly string[], afterId: Map<string, string>, producedFrom: number): Promise<Timings> {
  const out: number[] = [];
  const wait = new Map<string, number[]>();
  const batch = new Map<string, number[]>();
  const size = new Map<string, number[]>();
  const add = (m: Map<string, number[]>, k: string, v: number) => (m.get(k) ?? m.set(k, []).get(k)!).push(v);
  await scanEnvelopes(
    redis,
    streams,
    (env, arrivedAt) => {
      if (env.producedAt < producedFrom) return; // warm-up
      out.push(arrivedAt - env.producedAt);
      let prev = env.producedAt;
      for (const h of env.hops) {
        add(wait, h.stage, h.readAt - prev);
        add(batch, h.stage, h.doneAt - h.readAt);
        add(size, h.stage, h.batch);
        prev = h.doneAt;
      }
    },
    afterId,
  );
  const sort = (xs: number[]) => xs.sort((a, b) => a - b);
  for (const xs of [...wait.values(), ...batch.values()]) sort(xs);
  return { e2e: sort(out), wait, batch, size };
}

async function lastIds(redis: Redis, streams: readonly string[]): Promise<Map<string, string>> {
  const m = new Map<string, string>();
  for (const s of streams) {
    const e = (await redis.xrevrange(s, '+', '-', 'COUNT', 1)) as [string, string[]][];
    if (e[0]) m.set(s, e[0][0]);
  }
  return m;
}

/**
 * Latency under paced load: the stages are let go idle and fed `rate` records/s, first for
 * `warmupSeconds` (not measured: V8 is still optimising the hot paths, and a short warm-up put that
 * transient into the p99), then without a pause for `seconds`; the end-to-end time of every record
 * produced in the second part is measured.
 */
export async function measureLatency(
  redis: Redis,
  start: () => Promise<Rig>,
  rate: number,
  seconds: number,
  record: (i: number) => ProductRecord,
  warmupSeconds: number,
): Promise<LatencyResult> {
  const rig = await start();
  const conn = await PacedConnection.open(redis.options.host ?? '127.0.0.1', redis.options.port ?? 6379, redis.options.password);
  try {
    await allReady(rig.children);
    const sampler = new RssSampler(rig.children.map((c) => c.pid)).start();
    const cpuAtStart = new Map(sampler.cpuSeconds());
    const marks = await lastIds(redis, rig.outputs);
    const base = await totalLength(redis, rig.outputs);
    for (const c of rig.children) c.go();
    const warm = warmupSeconds > 0 ? await paced(conn, rig.input, rate, warmupSeconds, record, 0) : 0;
    const pressureAtStart = cpuPressureUs();
    const pacedAt = Date.now();
    const sent = await paced(conn, rig.input, rate, seconds, record, warm);
    const pressureUs = pressureAtStart === undefined ? undefined : cpuPressureUs()! - pressureAtStart;
    const cpuPressurePct = pressureUs === undefined ? undefined : Math.round(pressureUs / (10 * (Date.now() - pacedAt)));
    await waitForOutputs(redis, rig, base + warm + sent, 120_000 + (warm + sent) * 10);
    const stages = await resourcesOf(redis, rig, sampler, cpuAtStart);
    const t = await latencies(redis, rig.outputs, marks, pacedAt);
    const lat = t.e2e;
    const hops = [...t.wait.keys()].map((stage) => ({
      stage,
      waitP50Ms: percentile(t.wait.get(stage)!, 50),
      waitP99Ms: percentile(t.wait.get(stage)!, 99),
      batchP50Ms: percentile(t.batch.get(stage)!, 50),
      batchP99Ms: percentile(t.batch.get(stage)!, 99),
      meanBatchSize: t.size.get(stage)!.reduce((a, b) => a + b, 0) / t.size.get(stage)!.length,
    }));
    return {
      side: rig.side,
      rate,
      records: lat.length,
      p50Ms: percentile(lat, 50),
      p99Ms: percentile(lat, 99),
      maxMs: lat[lat.length - 1] ?? NaN,
      hops,
      stages,
      cpuPressurePct,
    };
  } finally {
    conn.close();
    await stopAll(rig.children);
  }
}
