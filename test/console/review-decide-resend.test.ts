/**
 * A review decision whose reply was lost with its connection is sent again by ioredis itself once
 * it reconnects; the first call had applied it (item acked, product sent back, label kept), so the
 * re-send found the item closed with its own decision: the console answered 409 "decided already"
 * to the reviewer who had just decided it, and wrote no audit line. It is answered as applied, with
 * the entries the first call added and the items it closed.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decideReview } from '../../lib/console/review-decide.js';
import { listReview } from '../../lib/console/review-list.js';
import { Keys } from '../../lib/redis/keys.js';
import { addUnsureReviewEntry, groupReviewConfig } from '../helpers/console.js';
import { throughReplyLosingProxy } from '../helpers/reply-losing-proxy.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test, { appendonly: true, appendfsync: 'always' });
const serverPort = Number(new URL(server.url).port);

const reviewEntry = (keys: Keys, key: string, origin: string) => addUnsureReviewEntry(redis, keys, key, origin);

test('a decision whose reply was lost with the connection is answered as applied: what it sent and closed, once', async () => {
  const pipeline = randomPipeline();
  const config = groupReviewConfig(server.url, pipeline);
  const keys = new Keys(pipeline);
  // The Functions library loaded first (one decision), so the proxied connection's first FCALL is the decision.
  const warm = await reviewEntry(keys, 'warm', '1-0');
  await listReview(redis, keys);
  assert.ok(await decideReview(redis, config, keys, warm, { category: 'audio', reviewer: 'alice' }));
  const older = await reviewEntry(keys, 'p1', '2-0');
  const id = await reviewEntry(keys, 'p1', '3-0');
  await listReview(redis, keys);
  await throughReplyLosingProxy(
    serverPort,
    async () => (await redis.hget(keys.reviewed('p1'), 'entry')) === id,
    async (viaProxy, proxy) => {
      const r = await decideReview(viaProxy, config, keys, id, { category: 'audio', reviewer: 'bob' });
      assert.ok(proxy.dropped(), 'the connection was dropped after the decision went through');
      assert.ok(r, 'the decision is answered as applied, not "decided already"');
      const sent = (await redis.xrange(keys.stream('validate'), '-', '+')).filter(([, f]) => f[1] === 'p1').map(([e]) => e);
      assert.equal(
        r.sentTo.map((s) => [s.stream, s.id]),
        sent.map((e) => ['validate', e]),
      );
      assert.is(sent.length, 1, 'the product went back once');
      assert.equal(
        r.closed.map((c) => c.id),
        [older],
      );
      assert.is((await redis.xrange(keys.extra('labels'), '-', '+')).length, 2, 'one label per decision');
    },
  );
});

test.run();
