/**
 * A worker (or the API server) that writes the data-loss marker remembers the marker it wrote
 * (lib/stream/data-loss.ts EpochMarker.adopt): Redis emptied just after that write, before any read
 * of it, is a loss the next check says. Before, adopt read the marker back, found nothing, and the
 * next check adopted a new one: the loss went unsaid (a CI run of data-loss-api.test.ts waited in
 * vain for the second shard's record when FLUSHALL fell there).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Redis } from 'ioredis';
import { readDataLoss } from '../../lib/ops/data-loss.js';
import { memoryMetrics } from '../../lib/observe/metrics.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import { EpochMarker } from '../../lib/stream/data-loss.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';

const { redis } = await redisForFile(test);

type Set = (...args: unknown[]) => Promise<unknown>;

/** `redis` with `around` run about each SET (given the real one): a fault injected at the marker's write. */
function aroundSet(real: Redis, around: (set: Set, args: unknown[]) => Promise<unknown>): Redis {
  return new Proxy(real, {
    get: (target, prop, receiver) =>
      prop === 'set' ? (...args: unknown[]) => around(target.set.bind(target) as Set, args) : (Reflect.get(target, prop, receiver) as unknown),
  });
}

/** Redis emptied (FLUSHALL) right after the reply to the SET: between the marker's write and any read of it. */
const emptiedAfterSet = (real: Redis) =>
  aroundSet(real, async (set, args) => {
    const reply = await set(...args);
    await real.flushall();
    return reply;
  });

test('Redis emptied right after a watcher wrote the marker: the next check says marker_gone and records it', async () => {
  const pipeline = randomPipeline('dla');
  const keys = new Keys(pipeline);
  const marker = new EpochMarker(keys, { stage: 'api', consumer: 'h-1', logger: silentLogger, metrics: memoryMetrics() });
  const adopted = await marker.adopt(emptiedAfterSet(redis));
  assert.ok(adopted, 'the marker it wrote is what it adopted');
  assert.is(marker.seen, adopted);
  assert.is(await redis.exists(keys.epoch), 0, 'Redis was emptied after the write');

  assert.is(await marker.check(redis), true, 'the loss is seen');
  const [record] = await readDataLoss(redis, { pipeline });
  assert.equal([record?.what, record?.seen, record?.stage], ['marker_gone', adopted, 'api']);
  assert.ok(await redis.get(keys.epoch), 'a new marker written');
  assert.is(await marker.check(redis), false, 'one loss, one report');
});

test('another watcher writes its marker between this one reading and writing: SET NX is refused and theirs is adopted', async () => {
  const keys = new Keys(randomPipeline('dla'));
  const theirs = 'theirs@2026-12-06T00:00:00.000Z';
  const raced = aroundSet(redis, async (set, args) => {
    await redis.set(keys.epoch, theirs);
    return set(...args);
  });
  const marker = new EpochMarker(keys, { stage: 'classify', consumer: 'h-2', logger: silentLogger, metrics: memoryMetrics() });
  assert.is(await marker.adopt(raced), theirs);
  assert.is(await redis.get(keys.epoch), theirs, 'theirs kept');
  assert.is(await marker.check(redis), false, 'no loss');
});

test.run();
