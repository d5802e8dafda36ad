/**
 * An acknowledgement of trimmed review items whose reply was lost with its connection is sent again
 * by ioredis itself once it reconnects; the first call had acked the items, so the re-send acked
 * none: the console answered "acknowledged 0" and audited no ids. It is answered as the first
 * call, and the items are counted once.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ackTrimmed, reviewTrimmedKey } from '../../lib/console/review-trimmed.js';
import { REVIEW_GROUP } from '../../lib/console/review.js';
import { Keys } from '../../lib/redis/keys.js';
import { throughReplyLosingProxy } from '../helpers/reply-losing-proxy.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test, { appendonly: true, appendfsync: 'always' });
const serverPort = Number(new URL(server.url).port);

test('an acknowledgement of trimmed items whose reply was lost with the connection names the items it acked, counted once', async () => {
  const keys = new Keys(randomPipeline());
  const review = keys.stream('review');
  await redis.xgroup('CREATE', review, REVIEW_GROUP, '0', 'MKSTREAM');
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) ids.push((await redis.xadd(review, '*', 'k', `p${i}`, 'e', 'x'))!);
  await redis.xreadgroup('GROUP', REVIEW_GROUP, 'console-1', 'COUNT', 10, 'STREAMS', review, '>');
  await redis.xtrim(review, 'MAXLEN', 0);
  // The Functions library loaded first (an acknowledgement of nothing), so the proxied connection's first FCALL is the real one.
  assert.equal(await ackTrimmed(redis, keys, { ids: ['1-1'] }, 100), []);
  const pending = async () => ((await redis.xpending(review, REVIEW_GROUP)) as [number])[0];
  await throughReplyLosingProxy(
    serverPort,
    async () => (await pending()) === 0,
    async (viaProxy, proxy) => {
      const acked = await ackTrimmed(viaProxy, keys, { ids }, 100);
      assert.ok(proxy.dropped(), 'the connection was dropped after the acknowledgement went through');
      assert.equal(acked, ids);
      assert.is(await redis.hget(reviewTrimmedKey(keys), 'acknowledged'), String(ids.length));
    },
  );
});

test.run();
