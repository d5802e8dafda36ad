/**
 * `npm run bench`: the project's runtime against hand-written baselines, in one run on one local
 * redis-server (no persistence). Project and baseline runs alternate; the summary gives medians
 * and ends with five lines: `transport: N.NNx`, `model: N.NNx`, `model cpu: N.NNx`, `latency p99: N ms`,
 * `model latency p99: N ms` (bench/report.ts `contractLines`).
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { cpus, loadavg } from 'node:os';
import { Redis } from 'ioredis';
import { RedisServer } from '../lib/redis/server.js';
import { measureLatency } from './latency.js';
import { runModelPart } from './models.js';
import type { ApiResults } from './api.js';
import { parseOptions } from './options.js';
import { syntheticRecord } from './records.js';
import { formatReport, runLine, type BenchResults } from './report.js';
import { measureThroughput, streamFill, type Rig } from './rig.js';
import { median } from './stats.js';
import { baselineTransport, projectTransport, transportInput, type TransportSetup } from './transport.js';

// `npm run bench -- --cluster`: the single-node vs Redis Cluster comparison (bench/cluster.ts).
if (process.argv.includes('--cluster')) {
  const args = process.argv.slice(2).filter((a) => a !== '--cluster');
  const r = spawnSync(process.execPath, ['--import', 'tsx', resolve(import.meta.dirname, 'cluster.ts'), ...args], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

const opts = parseOptions(process.argv.slice(2));
const log = (line: string) => process.stdout.write(`# ${line}\n`);

const server = await new RedisServer().start();
const redis = new Redis(server.url, { connectionName: 'bench:control' });
const info = (await redis.info('server')) as string;
const results: BenchResults = {
  machine: { cpus: cpus().length, node: process.version, redis: /redis_version:(\S+)/.exec(info)?.[1] ?? '?', loadBefore: loadavg() },
  options: { ...opts },
  transport: { project: [], baseline: [], bullmq: [] },
  latency: { project: [], baseline: [] },
  models: { status: 'skipped', project: [], baseline: [], latency: [] },
  ratios: {},
};

let api: ApiResults | undefined;
type Side = 'project' | 'baseline';
const SIDES: Side[] = (['project', 'baseline'] as const).filter((x) => opts.sides.has(x));
let seq = 0;
/** A fresh pipeline name on an empty server for every run. */
async function fresh(label: string): Promise<TransportSetup> {
  await redis.flushall();
  return { url: server.url, pipeline: `bench${++seq}${label}`, batchSize: opts.batchSize, workers: opts.workers, colocate: opts.colocate ?? true };
}
const rigFor = (side: Side, s: TransportSetup): (() => Promise<Rig>) =>
  side === 'project' ? () => projectTransport({ ...s, cpuProfDir: opts.cpuProf }) : () => baselineTransport({ ...s, cpuProfDir: opts.cpuProf });

try {
  log(
    `redis-server ${results.machine.redis} on ${server.url}, ${results.machine.cpus} cores, load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  for (let run = 1; run <= opts.runs && opts.parts.has('transport'); run++) {
    for (const side of SIDES) {
      const s = await fresh(`t${side[0]}`);
      const r = await measureThroughput(redis, rigFor(side, s), opts.records, streamFill(redis, transportInput(s.pipeline), syntheticRecord));
      results.transport[side].push(r);
      log(`run ${run}/${opts.runs} transport ${side}: ${runLine(r)}`);
    }
  }
  // BullMQ (a devDependency) is loaded only when asked for.
  const bull = opts.bullmq && opts.parts.has('transport') ? await import('./bullmq.js') : undefined;
  for (let run = 1; run <= opts.runs && bull; run++) {
    const { bullmqFill, bullmqTransport } = bull;
    const s = await fresh('tq');
    const r = await measureThroughput(redis, () => bullmqTransport(s, redis), opts.records, bullmqFill(server.url, s.pipeline, syntheticRecord));
    results.transport.bullmq.push(r);
    log(`run ${run}/${opts.runs} transport bullmq: ${runLine(r)}`);
  }
  const capacity = median(results.transport.project.map((r) => r.recordsPerSec)) ?? 10_000;
  const rate = opts.rate ?? Math.max(1, Math.round(capacity * opts.load));
  for (let run = 1; run <= opts.runs && opts.parts.has('latency'); run++) {
    for (const side of SIDES) {
      const s = await fresh(`l${side[0]}`);
      const r = await measureLatency(redis, rigFor(side, s), rate, opts.latencySeconds, syntheticRecord, opts.warmupSeconds);
      results.latency[side].push(r);
      const hops = r.hops.map((h) => `${h.stage} wait ${h.waitP50Ms}/${h.waitP99Ms} batch ${h.batchP50Ms}/${h.batchP99Ms}`).join(', ');
      log(
        `run ${run}/${opts.runs} latency ${side} at ${rate}/s: p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, max ${r.maxMs} ms (${r.records} records; p50/p99 ms per hop: ${hops}${r.cpuPressurePct === undefined ? '' : `; CPU run-queue pressure ${r.cpuPressurePct}% of the time`})`,
      );
    }
  }
  await runModelPart(redis, server.url, opts, results.models, log, fresh);
  if (opts.parts.has('coldstart')) results.coldStart = await (await import('./coldstart.js')).runColdStartPart(redis, opts, log, fresh);
  // Stages sharing a process against one process per stage (bench/colocate.ts), only when named.
  if (opts.parts.has('colocate')) results.colocate = await (await import('./colocate.js')).runColocatePart(redis, opts, log, fresh);
  // The HTTP API part (autocannon, loaded only when asked for): bench/api.ts.
  if (opts.parts.has('api')) api = await (await import('./api.js')).runApiPart(redis, server.url, opts, log, fresh);
} finally {
  redis.disconnect();
  await server.close();
}

results.machine.loadAfter = loadavg();
const summary = formatReport(results);
if (opts.json) writeFileSync(opts.json, JSON.stringify({ ...results, ...(api ? { api } : {}) }, null, 2) + '\n');
process.stdout.write('\n' + summary + '\n');
if (api) process.stdout.write((await import('./api.js')).apiLines(api).join('\n') + '\n');
