/**
 * What the outage tests (test/data-safety/oom.test.ts, test/data-safety/misconf.test.ts, test/data-safety/data-loss*.test.ts) share:
 * records produced through the real producer, metrics counted in memory, and the check that an
 * outage lost, duplicated and dead-lettered nothing.
 */
import { Readable } from 'node:stream';
import type { Redis } from 'ioredis';
import * as assert from 'uvu/assert';
import { noopMetrics, type Metrics } from '../../lib/observe/metrics.js';
import { produce } from '../../lib/producer/producer.js';
import type { Keys } from '../../lib/redis/keys.js';
import { client } from './redis.js';

/** Produce records `r<from>` .. `r<from + n - 1>` (title `item <i>`) to the `in` stream, over a client of its own. */
export async function produceItems(url: string, keys: Keys, from: number, n: number): Promise<void> {
  const redis = client(url);
  try {
    const lines = Array.from({ length: n }, (_, i) => JSON.stringify({ id: `r${from + i}`, title: `item ${from + i}` })).join('\n');
    await produce(redis, Readable.from([lines]), { stream: keys.stream('in'), source: 'test', maxRecordBytes: 65536 });
  } finally {
    redis.disconnect();
  }
}

/** Products `r<from>` .. `r<from + n - 1>` all stored (read over a client of its own). */
export async function storedAll(url: string, keys: Keys, from: number, n: number): Promise<boolean> {
  const redis = client(url);
  try {
    const got = await Promise.all(Array.from({ length: n }, (_, i) => redis.exists(keys.product(`r${from + i}`))));
    return got.every((x) => x === 1);
  } finally {
    redis.disconnect();
  }
}

/** Metrics whose counters are kept (`counts`, by name) for the test to read. */
export function countingMetrics(): Metrics & { counts: Map<string, number> } {
  const counts = new Map<string, number>();
  return {
    ...noopMetrics,
    counts,
    increment(name: string, value = 1) {
      counts.set(name, (counts.get(name) ?? 0) + value);
    },
  };
}

/** Nothing dead-lettered (stream and counter), and each of products `<prefix>0` .. `<prefix><n - 1>` stored exactly once. */
export async function assertStoredOnce(redis: Redis, keys: Keys, n: number, prefix: string, counts: Map<string, number>): Promise<void> {
  assert.is(await redis.xlen(keys.dlq), 0, 'no good record dead-lettered');
  const copies = await Promise.all(Array.from({ length: n }, (_, i) => redis.hget(keys.product(`${prefix}${i}`), 'copies')));
  assert.is(copies.filter((c) => c === '1').length, n, 'every record stored exactly once');
  assert.is(counts.get('messages.dead_lettered') ?? 0, 0);
}
