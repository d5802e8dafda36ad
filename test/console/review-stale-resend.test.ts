/**
 * A decision of an item whose product has a newer record stored closes the item (XACK) and answers
 * 409 stale. When the XACK's reply was lost with its connection, ioredis sends it again by itself
 * once it reconnects, and the re-send acks nothing (the first call had closed the item): the
 * decision had been answered "decided already", and the closing went unaudited. It is answered
 * stale, as the first call did.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decideReview } from '../../lib/console/review-decide.js';
import { listReview } from '../../lib/console/review-list.js';
import { REVIEW_GROUP } from '../../lib/console/review.js';
import { ReviewConflictError } from '../../lib/core/errors.js';
import { Keys } from '../../lib/redis/keys.js';
import { serverTimeMs } from '../../lib/redis/server-time.js';
import { addUnsureReviewEntry, groupReviewConfig } from '../helpers/console.js';
import { throughReplyLosingProxy } from '../helpers/reply-losing-proxy.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test, { appendonly: true, appendfsync: 'always' });
const serverPort = Number(new URL(server.url).port);

/** Product `key` as the store holds it: another record (another input), newer than its review item (version `version`). */
async function storeNewer(keys: Keys, key: string, version: string): Promise<void> {
  const doc = JSON.stringify({ key, input: { id: key, title: 'Edge 2TB USB Hard Drive EDGDG-223687-PE' }, outputs: {}, hops: [] });
  await redis.hset(keys.product(key), 'doc', doc, 'category', 'storage', 'version', version, 'entry', '9-9');
}

/** The decision's outcome: the conflict's reason, 'applied', or 'decided already' (undefined). */
async function outcome(decision: Promise<unknown>): Promise<string> {
  try {
    return (await decision) ? 'applied' : 'decided already';
  } catch (err) {
    if (err instanceof ReviewConflictError) return err.reason;
    throw err;
  }
}

test('a stale item whose closing reply was lost with the connection is answered stale, not "decided already"', async () => {
  const pipeline = randomPipeline();
  const config = groupReviewConfig(server.url, pipeline);
  const keys = new Keys(pipeline);
  const now = await serverTimeMs(redis);
  const id = await addUnsureReviewEntry(redis, keys, 'p1', `${now - 60_000}-0`);
  await storeNewer(keys, 'p1', `${now - 1_000}-0`);
  await listReview(redis, keys);
  const review = keys.stream('review');
  const got = await throughReplyLosingProxy(
    serverPort,
    async () => ((await redis.xpending(review, REVIEW_GROUP, id, id, 1)) as unknown[]).length === 0,
    async (viaProxy, proxy) => {
      const r = await outcome(decideReview(viaProxy, config, keys, id, { category: 'audio', reviewer: 'bob' }));
      assert.ok(proxy.dropped(), 'the connection was dropped after the item was closed');
      return r;
    },
    /xack/i,
  );
  assert.is(got, 'stale');
  assert.is(await redis.xlen(keys.stream('validate')), 0, 'nothing sent');
});

test('a stale item closed already (another decision of it came first) is "decided already"', async () => {
  const pipeline = randomPipeline();
  const config = groupReviewConfig(server.url, pipeline);
  const keys = new Keys(pipeline);
  const now = await serverTimeMs(redis);
  const id = await addUnsureReviewEntry(redis, keys, 'p2', `${now - 60_000}-0`);
  await storeNewer(keys, 'p2', `${now - 1_000}-0`);
  await listReview(redis, keys);
  assert.is(await outcome(decideReview(redis, config, keys, id, { category: 'audio', reviewer: 'alice' })), 'stale');
  assert.is(await outcome(decideReview(redis, config, keys, id, { category: 'audio', reviewer: 'bob' })), 'decided already');
});

test.run();
