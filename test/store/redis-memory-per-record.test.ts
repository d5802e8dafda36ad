/**
 * The Redis memory per record that docs/api.md#redis-memory-per-record states (and deploy.md's
 * Redis sizing relies on): a status key per finished product, a marker per API submit call. Keys
 * written by the real code paths (recordCompletions, submitRecords) on a real redis-server; fails
 * when a change makes them grow past what the docs say.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { submitRecords } from '../../lib/api/submit.js';
import { Keys } from '../../lib/redis/keys.js';
import { recordCompletions } from '../../lib/stream/done.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';

const { redis } = await redisForFile(test);
const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
const WEEK = 7 * 86_400_000;

test('a stored status is about 180 B of Redis (8-character ids, the key tables counted), about 120 B by MEMORY USAGE', async () => {
  const keys = new Keys('products'); // the shipped pipeline name: the documented key length
  const N = 20_000;
  const before = await usedMemory();
  for (let i = 0; i < N; i += 1_000) {
    const list = Array.from({ length: 1_000 }, (_, j) => ({ key: `b${String(i + j).padStart(7, '0')}`, status: 'stored' as const, stage: 'store' }));
    await recordCompletions(redis, keys, list, { maxLen: 10, statusTtlMs: WEEK });
  }
  const perKey = ((await usedMemory()) - before) / N;
  assert.ok(perKey > 120 && perKey < 220, `about 180 B per status: ${perKey.toFixed(0)} B`);
  const one = Number(await redis.memory('USAGE', keys.status('b0000007')));
  assert.ok(one <= 140, `MEMORY USAGE ${one}`);
  await redis.flushall();
});

test('a submit marker is about 150 B of Redis (about 100 B by MEMORY USAGE), one per submit call of up to 500 records', async () => {
  const keys = new Keys(randomPipeline());
  const records = Array.from({ length: 1_200 }, (_, i) => ({ id: `m${i}`, title: 't' }));
  await submitRecords(redis, keys, 'in', records, { statusTtlMs: WEEK, dedupMs: 3_600_000, retryMs: 5_000 });
  const markers: string[] = [];
  for (let cursor = '0'; ;) {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${keys.stream('in')}:submit:*`, 'COUNT', 1_000);
    markers.push(...found);
    if ((cursor = next) === '0') break;
  }
  assert.is(markers.length, 3, '1,200 records: three calls of up to 500');
  const one = Number(await redis.memory('USAGE', markers[0]!));
  assert.ok(one <= 120, `MEMORY USAGE ${one}`);
  const ttl = await redis.pttl(markers[0]!);
  assert.ok(ttl > 3_500_000 && ttl <= 3_600_000, `kept submitDedupMs: ${ttl}`);
});

test.run();
