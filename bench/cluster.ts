/**
 * `npm run bench:cluster`: end-to-end throughput of the rules-only pipeline (preprocess, validate,
 * store: transport-bound, no models) with the same worker processes against
 *   1. one redis-server, unsharded (today's layout),
 *   2. one redis-server, N shards (what sharding itself costs: N readers per worker, N streams),
 *   3. a local Redis Cluster of 3 masters + 3 replicas, N shards (what the cluster adds).
 * Every side has the AOF on (everysec). Per side: the workers start (`pipeline worker` processes,
 * as `pipeline up` runs them), their read loops come up, then `--records` records are produced
 * and the clock runs until the last one is stored. Records/s = records / that time.
 *
 * Then, on the cluster, the producer alone (no workers) with and without `waitReplicas: 1`: what
 * waiting for a replica's acknowledgement of every batch costs.
 *
 * On one machine this measures overhead, not scale-out: all nine processes share its cores, and
 * a cluster adds replication traffic and one more connection per master per client. The cluster
 * pays off when its masters are on different machines (docs/scale-out.md).
 */
import type { Keys } from '../lib/redis/keys.js';
import { Command } from 'commander';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, hostname, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import type { Redis } from 'ioredis';
import { sleep } from '../lib/core/backoff.js';
import { resolveConfig } from '../lib/config/load.js';
import type { PipelineConfig } from '../lib/config/types.js';
import { pipelineStatus } from '../lib/ops/inspect.js';
import { createLogger } from '../lib/observe/logger.js';
import { produce } from '../lib/producer/producer.js';
import { consumerName } from '../lib/redis/keys.js';
import { RedisServer } from '../lib/redis/server.js';
import { createClient } from '../lib/redis/url.js';
import { configShards } from '../lib/redis/shard.js';
import { RedisCluster } from '../test/helpers/cluster.js';
import { createSupervisor } from '../scripts/commands/up.js';
import { REPO } from '../scripts/commands/common.js';

const o = new Command('bench-cluster')
  .description('rules-only pipeline throughput: one redis-server (1 and N shards) versus a local 3-master Redis Cluster (N shards), same workers')
  .option('--records <n>', 'records per run', '20000')
  .option('--shards <n>', 'shards of the sharded sides', '4')
  .option('--workers <n>', 'worker processes per stage (each reads every shard)', '1')
  .option('--runs <n>', 'runs per side (the median is reported)', '3')
  .option('--batch <n>', 'stage batchSize', '64')
  .option('--timeout <ms>', 'give up on a run after this long', '300000')
  .parse()
  .opts<Record<string, string>>();
const N = Number(o.records);
const SHARDS = Number(o.shards);
const WORKERS = Number(o.workers);
const log = createLogger({ component: 'bench-cluster' }, 'warn');
const RAW = JSON.parse(readFileSync(resolve(REPO, 'config/rules-only.json'), 'utf8')) as PipelineConfig;

interface Side {
  name: string;
  shards: number;
  start: () => Promise<{ url: string; close: () => Promise<void> }>;
  /** Also time the producer alone, with and without WAIT. */
  producerOnly?: boolean;
}

const sides: Side[] = [
  { name: '1 redis-server, unsharded', shards: 1, start: single },
  { name: `1 redis-server, ${SHARDS} shards`, shards: SHARDS, start: single },
  { name: `cluster 3 masters + 3 replicas, ${SHARDS} shards`, shards: SHARDS, start: clustered, producerOnly: true },
];

async function single() {
  const s = await new RedisServer({ appendonly: true }).start();
  return { url: s.url, close: () => s.close() };
}

async function clustered() {
  const c = await new RedisCluster({ masters: 3, replicas: 1 }).start();
  return { url: c.url, close: () => c.close() };
}

/** One run: workers up, produce N, until all N are stored. Returns records/s. */
async function run(side: Side, url: string, n: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-cluster-'));
  const pipeline = `bc${Date.now().toString(36)}`;
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({ ...RAW, pipeline, shards: side.shards, defaults: { ...RAW.defaults, batchSize: Number(o.batch) } }));
  const config = resolveConfig(JSON.parse(readFileSync(file, 'utf8')), file, { env: { REDIS_URL: url } });
  const shards = configShards(config);
  const redis: Redis = createClient(url, { connectionName: 'bench:control', maxRetriesPerRequest: null });
  const supervisor = createSupervisor({ configPath: file, env: { ...process.env, REDIS_URL: url, LOG_LEVEL: 'warn' }, stdio: 'ignore' }, log);
  try {
    for (const s of config.stages) supervisor.scale(s.name, WORKERS);
    // Ready = every worker's read loop on every shard has written its liveness key.
    const deadline = Date.now() + 120_000;
    for (;;) {
      const names = supervisor.pids().map((pid) => consumerName(hostname(), pid, 0));
      // A consumer name does not say its stage: a worker is up when one stage's marker exists for it.
      const beating = async (k: Keys, c: string) => (await Promise.all(config.stages.map((s) => redis.exists(k.liveness(s.name, c))))).some((b) => b === 1);
      const beats = await Promise.all(shards.all.flatMap((k) => names.map((c) => beating(k, c))));
      if (names.length === config.stages.length * WORKERS && beats.every(Boolean)) break;
      if (Date.now() > deadline) throw new Error('workers did not come up');
      await sleep(100);
    }
    const lines = Array.from({ length: n }, (_, i) =>
      JSON.stringify({ id: `b${i}`, title: `Product ${i} widget`, ...(i % 3 === 0 ? { mpn: `MX-${i}` } : {}) }),
    ).join('\n');
    const t0 = Date.now();
    await produce(redis, Readable.from([lines]), {
      stream: shards.all[0]!.stream(config.input),
      ...(shards.count > 1 ? { streamFor: (k: string) => shards.keysFor(k).stream(config.input) } : {}),
      source: 'bench',
      maxRecordBytes: config.limits.maxRecordBytes,
      // No WAIT, as the documented runs (produce()'s default is "auto" since session 31): the producer alone measures WAIT.
      waitReplicas: 0,
    });
    const limit = t0 + Number(o.timeout);
    while ((await pipelineStatus(redis, config)).stored < n) {
      if (Date.now() > limit) throw new Error(`${side.name}: not all stored after ${o.timeout} ms`);
      await sleep(20);
    }
    return n / ((Date.now() - t0) / 1000);
  } finally {
    await supervisor.stop();
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The producer alone into a fresh pipeline: records/s, with `waitReplicas` replicas per batch. */
async function produceOnly(url: string, shardCount: number, n: number, waitReplicas: number): Promise<number> {
  const config = resolveConfig({ ...RAW, pipeline: `bp${Date.now().toString(36)}`, shards: shardCount }, 'bench', { env: { REDIS_URL: url } });
  const shards = configShards(config);
  const redis: Redis = createClient(url, { connectionName: 'bench:producer', maxRetriesPerRequest: null });
  try {
    const lines = Array.from({ length: n }, (_, i) => JSON.stringify({ id: `p${i}`, title: `Product ${i} widget` })).join('\n');
    const t0 = Date.now();
    await produce(redis, Readable.from([lines]), {
      stream: shards.all[0]!.stream(config.input),
      streamFor: (k: string) => shards.keysFor(k).stream(config.input),
      source: 'bench',
      maxRecordBytes: config.limits.maxRecordBytes,
      waitReplicas,
    });
    return n / ((Date.now() - t0) / 1000);
  } finally {
    redis.disconnect();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const loadBefore = loadavg();
const results: { side: string; rates: number[] }[] = [];
const producerResults: { side: string; rates: number[] }[] = [];
for (const side of sides) {
  const redis = await side.start();
  const rates: number[] = [];
  try {
    for (let r = 0; r < Number(o.runs); r++) {
      rates.push(await run(side, redis.url, N));
      process.stderr.write(`${side.name}: run ${r + 1}: ${rates.at(-1)!.toFixed(0)} records/s\n`);
    }
    if (side.producerOnly) {
      for (const wait of [0, 1]) {
        const p: number[] = [];
        for (let r = 0; r < Number(o.runs); r++) p.push(await produceOnly(redis.url, side.shards, N, wait));
        producerResults.push({ side: `producer alone, waitReplicas ${wait}`, rates: p });
        process.stderr.write(`producer alone, waitReplicas ${wait}: ${p.map((x) => x.toFixed(0)).join(', ')} records/s\n`);
      }
    }
  } finally {
    await redis.close();
  }
  results.push({ side: side.name, rates });
}
const base = median(results[0]!.rates);
process.stdout.write(
  `bench:cluster: ${N} records per run, ${WORKERS} worker(s) per stage (3 stages), ${cpus().length} cores, load average before ${loadBefore.map((x) => x.toFixed(2)).join(' ')}, after ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}\n`,
);
for (const r of results) {
  const m = median(r.rates);
  process.stdout.write(
    `${r.side.padEnd(44)} ${m.toFixed(0).padStart(7)} records/s  (${((m / base) * 100).toFixed(0)} %; runs ${r.rates.map((x) => x.toFixed(0)).join(', ')})\n`,
  );
}
for (const r of producerResults) {
  process.stdout.write(
    `cluster, ${r.side.padEnd(35)} ${median(r.rates).toFixed(0).padStart(7)} records/s  (runs ${r.rates.map((x) => x.toFixed(0)).join(', ')})\n`,
  );
}
process.exit(0);
