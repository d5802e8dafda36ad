/**
 * `npm run bench -- --parts api`: the HTTP API (docs/api.md) under load, with autocannon.
 * - ingest: accepted records/s through `POST /v1/products` in batches of 100 (a `pipeline serve`
 *   process, autocannon in this one) against the producer (`produce()`, batches of 100) on the same
 *   records, each into a fresh pipeline with no workers, each after an unmeasured warm-up:
 *   `api ingest: N.NNx` (goal >= 0.8).
 * - enrich: `POST /v1/enrich` latency through the full model pipeline (config/pipeline.json, one
 *   worker process per stage) at `--load` (0.5) of its capacity, measured first by submitting a
 *   batch and timing its completions, after `--warmup-seconds` of the same load that is not
 *   measured: `api enrich p99: N ms` (goal <= 100 ms on 2 cores).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import type { Redis } from 'ioredis';
import type { PipelineConfig } from '../lib/config/types.js';
import { produce } from '../lib/producer/producer.js';
import { Keys } from '../lib/redis/keys.js';
import { allReady, spawnChild, stopAll, type BenchChild } from './children.js';
import { missingModels } from './model-config.js';
import type { BenchOptions } from './options.js';
import { devTitles, syntheticRecord } from './records.js';
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

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
    s.on('error', rej);
  });
}

/** `pipeline serve` on a free port for this config; resolves once /readyz answers 200. */
async function serveProcess(url: string, configFile: string): Promise<{ base: string; child: ChildProcess; stop: () => Promise<void> }> {
  const port = await freePort();
  const child = spawn(process.execPath, [BIN, 'serve', '--config', configFile, '--port', String(port)], {
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
  // HTTP: a fresh pipeline, a server process, autocannon sending each body once over 8 connections.
  const a = await fresh('ai');
  const file = writeTempConfig(pipelineConfig(a.pipeline, resolve(REPO, 'config/rules-only.json')), a.pipeline);
  const server = await serveProcess(url, file);
  let next = 0;
  let r: CannonResult;
  const warmup = Math.min(bodies.length, 50);
  try {
    // Warm-up (not measured): the server process's JIT, as the producer's run below is warm in this process.
    await autocannon({
      url: `${server.base}/v1/products`,
      connections: 8,
      amount: warmup,
      requests: [{ method: 'POST', headers: HEADERS, setupRequest: (req: Record<string, unknown>) => ({ ...req, body: bodies[next++ % bodies.length] }) }],
    });
    next = 0;
    r = await autocannon({
      url: `${server.base}/v1/products`,
      connections: 8,
      amount: bodies.length,
      requests: [{ method: 'POST', headers: HEADERS, setupRequest: (req: Record<string, unknown>) => ({ ...req, body: bodies[next++ % bodies.length] }) }],
    });
  } finally {
    await server.stop();
  }
  const stored = (await redis.xlen(new Keys(a.pipeline).stream('in'))) - warmup * BATCH;
  if (r['2xx'] !== bodies.length || stored !== records)
    throw new Error(
      `api ingest: ${r['2xx']} of ${bodies.length} requests accepted, ${stored} of ${records} records in the stream (non-2xx ${r.non2xx}, errors ${r.errors})`,
    );
  const apiPerSec = records / (r.duration || 1e-3);
  // The producer on the same records: produce(), batches of 100, in this process.
  const lines = bodies.map((b) => (JSON.parse(b) as unknown[]).map((x) => JSON.stringify(x)).join('\n')).join('\n');
  const warm = await fresh('apw'); // warm-up run, as for the server
  await produce(redis, Readable.from([lines]), { stream: new Keys(warm.pipeline).stream('in'), source: 'bench', maxRecordBytes: 65_536, batchSize: BATCH });
  const p = await fresh('ap');
  const t0 = process.hrtime.bigint();
  const sum = await produce(redis, Readable.from([lines]), {
    stream: new Keys(p.pipeline).stream('in'),
    source: 'bench',
    maxRecordBytes: 65_536,
    batchSize: BATCH,
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (sum.produced !== records) throw new Error(`producer: ${sum.produced} of ${records}`);
  const producerPerSec = records / seconds;
  log(
    `api ingest: HTTP ${Math.round(apiPerSec)} records/s (${bodies.length} requests of ${BATCH}, 8 connections, latency p50 ${r.latency.p50} ms p99 ${r.latency.p99} ms), producer ${Math.round(producerPerSec)} records/s`,
  );
  return { apiPerSec, producerPerSec, ratio: apiPerSec / producerPerSec, records };
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
  const children: BenchChild[] = config.stages.map((st) => spawnChild(`${st.name}#0`, 'model-worker.ts', [file, st.name], { env: { REDIS_URL: url } }));
  let server: Awaited<ReturnType<typeof serveProcess>> | undefined;
  try {
    await allReady(children);
    for (const c of children) c.go();
    server = await serveProcess(url, file);
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
    let i = 0;
    let completed = 0;
    let timedOut = 0;
    const seconds = Math.max(1, Math.round(opts.latencySeconds));
    const paced = (duration: number) =>
      autocannon({
        url: `${base}/v1/enrich?timeout_ms=10000`,
        connections: Math.max(4, Math.min(64, Math.ceil(rate * 0.5))),
        overallRate: rate,
        duration,
        requests: [
          {
            method: 'POST',
            headers: HEADERS,
            setupRequest: (req: Record<string, unknown>) => ({ ...req, body: JSON.stringify({ ...titles[i % titles.length]!, id: `en${i++}` }) }),
            onResponse: (status: number) => (status === 200 ? completed++ : status === 202 ? timedOut++ : undefined),
          },
        ],
      });
    // The same paced load for --warmup-seconds, not measured, then the measured part.
    if (opts.warmupSeconds > 0) await paced(Math.max(1, Math.round(opts.warmupSeconds)));
    completed = 0;
    timedOut = 0;
    const r = await paced(seconds);
    log(
      `api enrich: capacity ${capacityPerSec.toFixed(1)} records/s through ${config.stages.length} stage processes; at ${rate}/s for ${seconds} s after ${Math.round(opts.warmupSeconds)} s of warm-up: p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, max ${r.latency.max} ms (${r.requests.total} requests, ${completed} answered with the product, ${timedOut} timed out, ${r.non2xx} non-2xx, ${r.errors} errors)`,
    );
    return {
      capacityPerSec,
      rate,
      p50Ms: r.latency.p50,
      p99Ms: r.latency.p99,
      maxMs: r.latency.max,
      requests: r.requests.total,
      completed,
      timedOut,
      errors: r.non2xx + r.errors,
    };
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
