/**
 * `npm run bench:match`: how long the match stage's nearest-neighbour lookup takes with N stored
 * products (default 100,000), with the category blocking the stage uses and without it (one
 * block of all N), plus the cold-start sync of all vectors from Redis and the memory the synced
 * copy holds per product. Vectors are random unit
 * vectors of the embedder's dimension: the cost of a brute-force scan does not depend on values.
 */
import { Command } from 'commander';
import { readFileSync, writeFileSync } from 'node:fs';
import { Keys } from '../lib/redis/keys.js';
import { RedisServer } from '../lib/redis/server.js';
import { Prng } from '../training/prng.js';
import { VectorBlock } from '../stages/domain/vector-index.js';
import { VectorStore } from '../stages/domain/vector-store.js';
import { cliRedis } from '../scripts/commands/common.js';

// Dev-set category shares (see ../shared/data/products/README.md), largest first.
const SHARES = [1913, 1889, 1818, 1812, 1753, 1412, 1358, 1280, 1159, 1050, 625, 418, 382, 300, 21];

function unit(rng: Prng, dim: number): Float32Array {
  const v = new Float32Array(dim);
  let n = 0;
  for (let i = 0; i < dim; i++) n += (v[i] = rng.next() * 2 - 1) ** 2;
  for (let i = 0; i < dim; i++) v[i]! /= Math.sqrt(n);
  return v;
}

/** Resets this process's peak RSS (Linux); returns the current RSS in bytes, undefined where it cannot. */
function resetPeakRss(): number | undefined {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return statusBytes('VmRSS');
  } catch {
    return undefined; // not Linux, or not allowed: the line goes without the peak
  }
}

function peakRss(): number {
  return statusBytes('VmHWM');
}

function statusBytes(field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

function percentiles(ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!.toFixed(3);
  return `p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${s[s.length - 1]!.toFixed(3)} ms`;
}

const opts = new Command('bench-match')
  .option('--products <n>', 'stored products', '100000')
  .option('--dim <n>', 'vector dimension (product-embed: 96)', '96')
  .option('--queries <n>', 'lookups to time', '500')
  .parse()
  .opts<{ products: string; dim: string; queries: string }>();
const N = Number(opts.products);
const dim = Number(opts.dim);
const rng = new Prng(1);

const server = process.env.REDIS_URL ? undefined : await new RedisServer().start();
const redis = cliRedis(process.env.REDIS_URL ?? server!.url);
const keys = new Keys(`benchmatch${Date.now()}`);
try {
  const total = SHARES.reduce((a, b) => a + b, 0);
  const cats = SHARES.map((s, i) => ({ name: `c${i}`, n: Math.round((s / total) * N) }));
  const writer = new VectorStore(redis, keys);
  const all = new VectorBlock(dim, N);
  let t = Date.now();
  let k = 0;
  for (const c of cats) {
    for (let i = 0; i < c.n; i += 1000) {
      await writer.sync(c.name); // as the match stage does before each batch (it publishes the centroids once built)
      const adds: Promise<unknown>[] = [];
      for (let j = i; j < Math.min(c.n, i + 1000); j++) {
        const v = unit(rng, dim);
        all.add(`p${k}`, v);
        adds.push(writer.add(c.name, `p${k++}`, v));
      }
      await Promise.all(adds);
    }
  }
  console.log(`stored ${k} vectors (dim ${dim}) in ${cats.length} categories in ${((Date.now() - t) / 1000).toFixed(1)} s; largest category ${cats[0]!.n}`);

  // Memory the reader's copy holds: heap and array buffers after full GCs, before and after its
  // sync. Array buffers are freed after the GC that finds them dead: wait, collect again.
  const held = async () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    for (let i = 0; i < 3; i++) {
      gc?.();
      await new Promise((r) => setTimeout(r, 50));
    }
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const before = await held();
  // Linux: writing 5 to clear_refs resets the peak RSS (VmHWM), so the next read is the sync's peak.
  const rssBefore = resetPeakRss();
  const reader = new VectorStore(redis, keys);
  t = Date.now();
  for (const c of cats) await reader.sync(c.name);
  const seconds = (Date.now() - t) / 1000;
  const peakNote = rssBefore === undefined ? '' : `; peak RSS during it ${Math.round((peakRss() - rssBefore) / 1e6)} MB above the RSS before it`;
  const perProduct = ((await held()) - before) / k;
  const gcNote = 'gc' in globalThis ? '' : ' (no --expose-gc: garbage included)';
  console.log(
    `cold-start sync of all vectors from Redis: ${seconds.toFixed(2)} s; the copy holds ${Math.round(perProduct)} bytes per product${gcNote}${peakNote}`,
  );

  const queries = Array.from({ length: Number(opts.queries) }, () => unit(rng, dim));
  const time = (fn: (q: Float32Array) => unknown) =>
    queries.map((q) => {
      const t0 = performance.now();
      fn(q);
      return performance.now() - t0;
    });
  console.log(`lookup, largest category block (${cats[0]!.n} vectors): ${percentiles(time((q) => reader.lookup(cats[0]!.name, q, '')))}`);
  console.log(`lookup, one block of all ${k} vectors (no blocking): ${percentiles(time((q) => all.nearest(q)))}`);
} finally {
  redis.disconnect();
  await server?.close();
}
