/**
 * A review page closes (acks) the items of a product decided since the record they show, and names
 * them (`closed`: the console audits each). When that call's reply was lost with its connection,
 * ioredis sends it again by itself once it reconnects; the first call had closed the items, so the
 * re-send found them acked and named none: the closing went unaudited. The page names them as the
 * first call did.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decideReview } from '../../lib/console/review-decide.js';
import { reviewPage } from '../../lib/console/review-list.js';
import { REVIEW_GROUP } from '../../lib/console/review.js';
import { Keys } from '../../lib/redis/keys.js';
import { addUnsureReviewEntry, groupReviewConfig } from '../helpers/console.js';
import { throughReplyLosingProxy } from '../helpers/reply-losing-proxy.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test, { appendonly: true, appendfsync: 'always' });
const serverPort = Number(new URL(server.url).port);

/** Product p1's items: `newer` listed and decided; `older` (an older record, after it in the stream) not listed yet. */
async function decidedWithOlderItem(keys: Keys): Promise<{ newer: string; older: string }> {
  const config = groupReviewConfig(server.url, keys.pipeline);
  const newer = await addUnsureReviewEntry(redis, keys, 'p1', '3-0');
  const older = await addUnsureReviewEntry(redis, keys, 'p1', '2-0');
  assert.equal(
    (await reviewPage(redis, keys, { count: 1 })).items.map((i) => i.id),
    [newer],
  );
  assert.ok(await decideReview(redis, config, keys, newer, { category: 'audio', reviewer: 'alice' }));
  return { newer, older };
}

test('a page whose closing reply was lost with the connection names the items it closed', async () => {
  const keys = new Keys(randomPipeline());
  const { newer, older } = await decidedWithOlderItem(keys);
  const review = keys.stream('review');
  const page = await throughReplyLosingProxy(
    serverPort,
    async () => ((await redis.xpending(review, REVIEW_GROUP, older, older, 1)) as unknown[]).length === 0,
    async (viaProxy, proxy) => {
      const p = await reviewPage(viaProxy, keys, { count: 1 });
      assert.ok(proxy.dropped(), 'the connection was dropped after the page closed the item');
      return p;
    },
    /review_listed/,
  );
  assert.equal(page.items, []);
  assert.equal(
    page.closed.map((c) => [c.id, c.decision?.by, c.decision?.entry]),
    [[older, 'alice', newer]],
  );
});

test('a page without a drop names an item closed before it (by another page) as not its own', async () => {
  const keys = new Keys(randomPipeline());
  const { older } = await decidedWithOlderItem(keys);
  const first = await reviewPage(redis, keys, { count: 1 });
  assert.equal(
    first.closed.map((c) => c.id),
    [older],
  );
  const again = await reviewPage(redis, keys, { count: 1 });
  assert.equal(again.closed, []);
  assert.equal(again.items, []);
});

test.run();
