/**
 * `npm run bench -- --parts api`: the HTTP API (docs/api.md) under load, with autocannon.
 * - ingest: accepted records/s through `POST /v1/products` in batches of 100 (a `pipeline serve`
 *   process, autocannon in this one) against the producer (`produce()`, batches of 100) on the same
 *   records, with no workers, after two unmeasured warm-up runs of each, `--runs` alternating runs:
 *   `api ingest: N.NNx` (goal >= 0.8), the median over the pairs of an HTTP run and the producer run after it.
 * - enrich: `POST /v1/enrich` latency through the full model pipeline (config/pipeline.json, one
 *   worker process per `process` of the config, as `pipeline start` runs it) evenly paced
 *   (bench/paced-http.ts) at `--load` (0.5) of its capacity, measured first by submitting a
 *   batch and timing its completions, after `--api-warmup-seconds` of the same load that is not
 *   measured, then `--runs` runs of `--latency-seconds` pooled: `api enrich p99: N ms` (goal
 *   <= 100 ms on 2 cores).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import type { Redis } from 'ioredis';
import { groupProcesses } from '../lib/config/processes.js';
import type { PipelineConfig } from '../lib/config/types.js';
import { produce } from '../lib/producer/producer.js';
import { freePort } from '../lib/redis/server.js';
import { Keys } from '../lib/redis/keys.js';
import { allReady, spawnChild, stopAll, type BenchChild } from './children.js';
import { missingModels } from './model-config.js';
import type { BenchOptions } from './options.js';
import { hopTimes } from './hop-times.js';
import { pacedHttp, type PacedResult } from './paced-http.js';
import { devTitles, syntheticRecord } from './records.js';
import { median, percentile } from './stats.js';
import { writeTempConfig } from './transport-config.js';
import type { TransportSetup } from './transport.js';

// autocannon ships no types: the little of it used here.
interface CannonResult {
  duration: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  '2xx': number;
  latency: { p50: number; p99: number; max: number; mean: number };
  requests: { total: number };
}
type Cannon = (opts: Record<string, unknown>) => Promise<CannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Cannon;

const REPO = resolve(import.meta.dirname, '..');
const BIN = resolve(REPO, 'scripts/pipeline.mjs');
const TOKEN = 'bench-admin-token-0123456789';
const HEADERS = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
const BATCH = 100;

export interface ApiResults {
  ingest?: { apiPerSec: number; producerPerSec: number; ratio: number; records: number };
  enrich?: {
    capacityPerSec: number;
    rate: number;
    p50Ms: number;
    p99Ms: number;
    maxMs: number;
    requests: number;
    completed: number;
    timedOut: number;
    errors: number;
  };
  note?: string;
}

/** `pipeline serve` on a free port for this config; resolves once /readyz answers 200. */
async function serveProcess(url: string, configFile: string, cpuProfDir?: string): Promise<{ base: string; child: ChildProcess; stop: () => Promise<void> }> {
  const port = await freePort();
  const prof = cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : [];
  const child = spawn(process.execPath, [...prof, BIN, 'serve', '--config', configFile, '--port', String(port)], {
    env: { ...process.env, REDIS_URL: url, API_TOKENS: `admin:${TOKEN}`, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`pipeline serve exited (${child.exitCode})`);
    const ok = await fetch(`${base}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) throw new Error('pipeline serve not ready in 60 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  const stop = async () => {
    if (child.exitCode !== null) return;
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  };
  return { base, child, stop };
}

function pipelineConfig(pipeline: string, path = resolve(REPO, 'config/pipeline.json')): PipelineConfig {
  const raw = JSON.parse(readFileSync(path, 'utf8')) as PipelineConfig;
  // Backpressure must not refuse the bench's own backlog: the ingest part runs with no workers.
  return { ...raw, pipeline, limits: { ...raw.limits, maxLag: 1_000_000_000 } };
}

async function measureIngest(
  redis: Redis,
  url: string,
  opts: BenchOptions,
  fresh: (l: string) => Promise<TransportSetup>,
  log: (l: string) => void,
): Promise<ApiResults['ingest']> {
  const records = Math.max(BATCH, Math.round(opts.records / BATCH) * BATCH);
  const bodies = Array.from({ length: records / BATCH }, (_, b) => JSON.stringify(Array.from({ length: BATCH }, (_, i) => syntheticRecord(b * BATCH + i))));
  // HTTP: one server process on a fresh pipeline, autocannon sending each body once over 8
  // connections per run; the producer: produce() on the same records in this process, a fresh
  // pipeline per run. Runs alternate (HTTP, producer, HTTP, ...) --runs times; medians compared.
  const a = await fresh('ai');
  const inputA = new Keys(a.pipeline).stream('in');
  const file = writeTempConfig(pipelineConfig(a.pipeline, resolve(REPO, 'config/rules-only.json')), a.pipeline);
  const server = await serveProcess(url, file, opts.cpuProf && `${opts.cpuProf}/api-ingest-serve`);
  const lines = bodies.map((b) => (JSON.parse(b) as unknown[]).map((x) => JSON.stringify(x)).join('\n')).join('\n');
  const httpRun = async (amount: number) => {
    let next = 0;
    const before = await redis.xlen(inputA);
    // Timed from the start to the last response: autocannon ends a run (and its `duration`) only
    // at its next 1 s sampling tick, which made any run of 2.0-3.0 s read as about 3 s.
    const t0 = performance.now();
    let last = t0;
    const r = await autocannon({
      url: `${server.base}/v1/products`,
      connections: 8,
      amount,
      requests: [
        {
          method: 'POST',
          headers: HEADERS,
          setupRequest: (req: Record<string, unknown>) => ({ ...req, body: bodies[next++ % bodies.length] }),
          onResponse: () => (last = performance.now()),
        },
      ],
    });
    const stored = (await redis.xlen(inputA)) - before;
    if (r['2xx'] !== amount || stored !== amount * BATCH)
      throw new Error(
        `api ingest: ${r['2xx']} of ${amount} requests accepted, ${stored} of ${amount * BATCH} records in the stream (non-2xx ${r.non2xx}, errors ${r.errors})`,
      );
    return { perSec: stored / ((last - t0) / 1000), r };
  };
  const producerRun = async (label: string) => {
    const p = await fresh(label);
    const t0 = performance.now();
    const sum = await produce(redis, Readable.from([lines]), {
      stream: new Keys(p.pipeline).stream('in'),
      source: 'bench',
      maxRecordBytes: 65_536,
      batchSize: BATCH,
    });
    if (sum.produced !== records) throw new Error(`producer: ${sum.produced} of ${records}`);
    return records / ((performance.now() - t0) / 1000);
  };
  const http: number[] = [];
  const producer: number[] = [];
  let last: CannonResult | undefined;
  try {
    // Warm-up of both (not measured): the server process's JIT and this process's. Two passes
    // each: after one, the first measured HTTP run was still 10-15 % slower than the next two.
    for (const w of ['apw0', 'apw1']) {
      await httpRun(bodies.length);
      await producerRun(w);
    }
    for (let k = 0; k < Math.max(1, opts.runs); k++) {
      const h = await httpRun(bodies.length);
      http.push(h.perSec);
      last = h.r;
      producer.push(await producerRun(`ap${k}`));
    }
  } finally {
    await server.stop();
  }
  const apiPerSec = median(http)!;
  const producerPerSec = median(producer)!;
  // The ratio is the median of each HTTP run over the producer run right after it: the VM's speed
  // drifts (either side's runs moved by up to a third within one part), and a pair shares it.
  const pairs = http.map((h, k) => h / producer[k]!);
  const each = (xs: number[]) => xs.map((x) => Math.round(x)).join(' / ');
  log(
    `api ingest: HTTP ${Math.round(apiPerSec)} records/s (runs ${each(http)}; ${bodies.length} requests of ${BATCH}, 8 connections, last run latency p50 ${last!.latency.p50} ms p99 ${last!.latency.p99} ms), producer ${Math.round(producerPerSec)} records/s (runs ${each(producer)}); ${http.length} alternating runs, HTTP/producer per pair ${pairs.map((r) => r.toFixed(2)).join(' / ')}, median pair ${median(pairs)!.toFixed(2)}x`,
  );
  return { apiPerSec, producerPerSec, ratio: median(pairs)!, records };
}

async function measureEnrich(
  redis: Redis,
  url: string,
  opts: BenchOptions,
  fresh: (l: string) => Promise<TransportSetup>,
  log: (l: string) => void,
): Promise<ApiResults['enrich'] | string> {
  const configPath = opts.config ?? resolve(REPO, 'config/pipeline.json');
  const missing = missingModels(JSON.parse(readFileSync(configPath, 'utf8')) as PipelineConfig);
  if (missing.length) return `models not built (missing ${missing.join(', ')}; npm run models)`;
  const s = await fresh('ae');
  const config = pipelineConfig(s.pipeline, configPath);
  const file = writeTempConfig(config, s.pipeline);
  const keys = new Keys(s.pipeline);
  const titles = devTitles(2_000);
  // One child per process of the config (its `process` keys), as `pipeline start` runs it.
  const processes = groupProcesses(config.stages.map((st) => ({ name: st.name, process: st.process ?? st.name })));
  const children: BenchChild[] = processes.map((p) =>
    spawnChild(`${p.name}#0`, 'model-worker.ts', [file, p.stages.join(',')], {
      env: { REDIS_URL: url },
      cpuProfDir: opts.cpuProf && `${opts.cpuProf}/api-enrich`,
    }),
  );
  let server: Awaited<ReturnType<typeof serveProcess>> | undefined;
  try {
    await allReady(children);
    for (const c of children) c.go();
    server = await serveProcess(url, file, opts.cpuProf && `${opts.cpuProf}/api-enrich-serve`);
    const base = server.base;
    // Capacity: 400 records submitted at once (warms every stage too), timed to their last completion.
    const n = 400;
    const t0 = Date.now();
    for (let b = 0; b < n; b += BATCH) {
      const body = JSON.stringify(Array.from({ length: BATCH }, (_, i) => ({ ...titles[(b + i) % titles.length]!, id: `cap${b + i}` })));
      const r = await fetch(`${base}/v1/products`, { method: 'POST', headers: HEADERS, body });
      if (r.status !== 202) throw new Error(`capacity batch: HTTP ${r.status}`);
    }
    while ((await redis.xlen(keys.done)) < n) {
      if (Date.now() - t0 > 300_000) throw new Error(`capacity: ${await redis.xlen(keys.done)} of ${n} completed in 300 s`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const capacityPerSec = n / ((Date.now() - t0) / 1000);
    const rate = Math.max(1, Math.round(opts.rate ?? capacityPerSec * opts.load));
    const seconds = Math.max(1, Math.round(opts.latencySeconds));
    let i = 0;
    const paced = (duration: number) =>
      pacedHttp({
        url: `${base}/v1/enrich?timeout_ms=10000`,
        method: 'POST',
        headers: HEADERS,
        rate,
        seconds: duration,
        body: () => JSON.stringify({ ...titles[i % titles.length]!, id: `en${i++}` }),
      });
    // The same paced load for --api-warmup-seconds, not measured, then --runs measured parts back to
    // back, pooled: one 5 s run is about 1,500 requests, so its p99 is the 15th slowest and one
    // stall of the shared VM moves it by tens of ms; each run's own p99 is printed beside.
    const warmup = opts.apiWarmupSeconds > 0 ? Math.max(1, Math.round(opts.apiWarmupSeconds)) : 0;
    if (warmup > 0) await paced(warmup);
    const measuredFrom = i;
    const runs: PacedResult[] = [];
    for (let k = 0; k < Math.max(1, opts.runs); k++) runs.push(await paced(seconds));
    const all = runs.flatMap((x) => x.latencies).sort((a, b) => a - b);
    const r = {
      requests: all.length,
      p50: percentile(all, 50),
      p99: percentile(all, 99),
      max: all.at(-1)!,
      maxSendLagMs: Math.max(...runs.map((x) => x.maxSendLagMs)),
    };
    const count = (status: string) => runs.reduce((n, x) => n + (x.statuses[status] ?? 0), 0);
    const completed = count('200');
    const timedOut = count('202');
    const errors = r.requests - completed - timedOut;
    log(
      `api enrich: capacity ${capacityPerSec.toFixed(1)} records/s through ${config.stages.length} stages in ${processes.length} processes; evenly paced at ${rate}/s, ${runs.length} runs of ${seconds} s after ${warmup} s of warm-up, pooled: p50 ${Math.round(r.p50)} ms, p99 ${Math.round(r.p99)} ms, max ${Math.round(r.max)} ms (runs' p99 ${runs.map((x) => Math.round(x.p99)).join(' / ')} ms; ${r.requests} requests, ${completed} answered with the product, ${timedOut} timed out, ${errors} other; sender lag at most ${Math.round(r.maxSendLagMs)} ms)`,
    );
    const ids = Array.from({ length: i - measuredFrom }, (_, k) => `en${measuredFrom + k}`);
    log(`api enrich: where the time goes (store's hops; stamped by the stages): ${await hopTimes(redis, keys, ids)}`);
    return { capacityPerSec, rate, p50Ms: r.p50, p99Ms: r.p99, maxMs: r.max, requests: r.requests, completed, timedOut, errors };
  } finally {
    await server?.stop();
    await stopAll(children);
  }
}

/** The api part; returns what it measured and prints the two summary lines' figures into `out`. */
export async function runApiPart(
  redis: Redis,
  url: string,
  opts: BenchOptions,
  log: (l: string) => void,
  fresh: (l: string) => Promise<TransportSetup>,
): Promise<ApiResults> {
  const out: ApiResults = {};
  out.ingest = await measureIngest(redis, url, opts, fresh, log);
  const e = await measureEnrich(redis, url, opts, fresh, log);
  if (typeof e === 'string') {
    out.note = e;
    log(`api enrich: ${e}`);
  } else out.enrich = e;
  return out;
}

/** The lines the summary ends with. */
export function apiLines(r: ApiResults): string[] {
  const lines: string[] = [];
  if (r.ingest) lines.push(`api ingest: ${r.ingest.ratio.toFixed(2)}x`);
  lines.push(r.enrich ? `api enrich p99: ${Math.round(r.enrich.p99Ms)} ms` : `api enrich p99: not measured (${r.note ?? 'skipped'})`);
  return lines;
}
