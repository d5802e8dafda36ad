/**
 * An id's status `{p}:status:<id>` (lib/stream/status-value.ts) on a real Redis: one string with
 * its TTL, written by the completion writer, read by `GET /v1/products/{id}`; a hash left by an
 * older version still reads.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { lookupStatus } from '../../lib/api/status.js';
import type { ResolvedStage } from '../../lib/config/types.js';
import { Keys } from '../../lib/redis/keys.js';
import { recordCompletions } from '../../lib/stream/done.js';
import { readStatus } from '../../lib/stream/status-value.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';

const { redis } = await redisForFile(test);
const first = { name: 'preprocess', input: 'in' } as ResolvedStage;
const never = async () => false;

test('a completion is one string key with the TTL: status, stage, reason and error read back', async () => {
  const keys = new Keys(randomPipeline());
  await recordCompletions(
    redis,
    keys,
    [
      { key: 'a', status: 'stored', stage: 'store' },
      { key: 'b', status: 'dead_lettered', stage: 'extract', reason: 'max_deliveries', error: 'boom' },
    ],
    { maxLen: 100, statusTtlMs: 60_000 },
  );
  assert.is(await redis.type(keys.status('a')), 'string');
  const ttl = await redis.pttl(keys.status('a'));
  assert.ok(ttl > 50_000 && ttl <= 60_000, `ttl ${ttl}`);
  assert.equal((await lookupStatus(redis, keys, first, 'a', never)).status, 'stored');
  const b = await lookupStatus(redis, keys, first, 'b', never);
  assert.equal([b.status, 'reason' in b && b.reason, 'error' in b && b.error], ['dead_lettered', 'max_deliveries', 'boom']);
  assert.equal((await lookupStatus(redis, keys, first, 'nobody', never)).status, 'unknown');
});

test('a status hash written by an older version still answers (an upgrade does not turn in-flight ids into 404s)', async () => {
  const keys = new Keys(randomPipeline());
  await redis.hset(keys.status('old'), 's', 'review', 'g', 'classify', 'r', 'review', 't', '5');
  assert.equal(await readStatus(redis, keys.status('old')), { s: 'review', g: 'classify', r: 'review', t: '5' });
  const r = await lookupStatus(redis, keys, first, 'old', never);
  assert.equal([r.status, 'at' in r && r.at], ['review', 5]);
});

test.run();
