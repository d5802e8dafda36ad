/**
 * A reviewer's decision (lib/console/review.ts decideReview) against real Redis and real workers:
 * where the corrected product goes, and that it is stored even when the product was reprocessed
 * after the item entered review.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import { decideReview } from '../../lib/console/review-decide.js';
import { listReview } from '../../lib/console/review-list.js';
import { Keys } from '../../lib/redis/keys.js';
import { serverTimeMs } from '../../lib/redis/server-time.js';
import { encodeEnvelope, newEnvelope, type Envelope } from '../../lib/stream/codec.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { Worker } from '../../lib/worker/worker.js';
import { STAGES } from '../../stages/index.js';
import { addUnsureReviewEntry, groupReviewConfig } from '../helpers/console.js';
import { FAST, stopAll } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);

/** A review entry as the classify stage leaves it: predicted networking (group computing), unsure. */
async function reviewEntry(keys: Keys, key: string, origin: string): Promise<string> {
  await addUnsureReviewEntry(redis, keys, key, origin);
  const items = await listReview(redis, keys);
  return items.find((i) => i.key === key)!.id;
}

test('an undecodable review entry goes to the DLQ (acked from review), and the list shows the others (it had failed the whole list with a 500)', async () => {
  const keys = new Keys(randomPipeline());
  await redis.xadd(keys.stream('review'), '*', 'k', 'poison', 'e', 'not-an-envelope');
  await redis.xadd(keys.stream('review'), '*', 'k', 'no-envelope');
  await reviewEntry(keys, 'good', `${Date.now()}-0`);
  const items = await listReview(redis, keys);
  assert.equal(
    items.map((i) => i.key),
    ['good'],
  );
  const dead = await redis.xrange(keys.dlq, '-', '+');
  assert.is(dead.length, 2);
  for (const [, f] of dead) {
    const m = Object.fromEntries(f.flatMap((v, i) => (i % 2 === 0 ? [[v, f[i + 1]]] : [])));
    assert.equal([m.stage, m.stream, m.reason], ['review', 'review', 'undecodable']);
  }
  assert.is(((await redis.xpending(keys.stream('review'), 'console')) as [number])[0], 1, 'only the good item waits');
});

test("a corrected category is routed by its own group, not the predicted one's (networking → audio had gone to the computing route)", async () => {
  const pipeline = randomPipeline();
  const config = groupReviewConfig(server.url, pipeline);
  const keys = new Keys(pipeline);
  const id = await reviewEntry(keys, 'g1', '1-0');
  const r = await decideReview(redis, config, keys, id, { category: 'audio', reviewer: 'alice' });
  assert.equal(
    r!.sentTo.map((s) => s.stream),
    ['validate'],
  );
  // Confirming the prediction keeps the classifier's group and subcategory.
  const id2 = await reviewEntry(keys, 'g2', '1-0');
  const r2 = await decideReview(redis, config, keys, id2, { category: 'networking', reviewer: 'alice' });
  assert.equal(
    r2!.sentTo.map((s) => s.stream),
    ['store'],
  );
});

test("a category corrected on an item validate sent to review goes back through the classifier's table to the new group (it had gone on to store with the old extractor's fields)", async () => {
  const pipeline = randomPipeline();
  const config = groupReviewConfig(server.url, pipeline);
  const keys = new Keys(pipeline);
  const fromValidate = async (key: string) => {
    const env: Envelope = {
      ...newEnvelope({ id: key, title: 'Bluecorp speaker 3000' }),
      origin: '1-0',
      outputs: {
        preprocess: { title: 'Bluecorp speaker 3000', text: 'Bluecorp speaker 3000' },
        classify: { category: 'networking', confidence: 0.9, group: 'computing', top: [{ category: 'networking', confidence: 0.9 }] },
        validate: { brand: 'Bluecorp', missing: ['speed'] },
      },
      hops: ['preprocess', 'classify', 'validate'].map((stage) => ({ stage, consumer: 'c', readAt: 1, doneAt: 1, batch: 1 })),
    };
    await redis.xadd(keys.stream('review'), '*', 'k', key, 'e', encodeEnvelope(env));
    return (await listReview(redis, keys)).find((i) => i.key === key)!;
  };
  const item = await fromValidate('v1');
  assert.is(item.from, 'validate');
  assert.is(item.categoryFrom, 'classify');
  const r = await decideReview(redis, config, keys, item.id, { category: 'audio', reviewer: 'alice' });
  assert.equal(
    r!.sentTo.map((s) => s.stream),
    ['validate'],
    "audio's group (electronics) by classify's table",
  );
  // Confirmed, it goes on where validate sends it.
  const same = await fromValidate('v2');
  const r2 = await decideReview(redis, config, keys, same.id, { category: 'networking', reviewer: 'alice' });
  assert.equal(
    r2!.sentTo.map((s) => s.stream),
    ['store'],
  );
});

test('a decision is stored although the product was reprocessed after the item entered review (the store had dropped it as older)', async () => {
  const pipeline = randomPipeline();
  const config = groupReviewConfig(server.url, pipeline);
  const keys = new Keys(pipeline);
  const now = await serverTimeMs(redis);
  const id = await reviewEntry(keys, 's1', `${now - 60_000}-0`);
  // Meanwhile a reprocess stored a newer version of the product.
  await redis.hset(keys.product('s1'), 'category', 'networking', 'version', `${now - 1_000}-3`, 'entry', '1-1');
  // The stages after review only (no model needed).
  const workers = ['validate', 'store'].map((stage) => new Worker({ config, stage, stages: STAGES, logger: silentLogger }));
  for (const w of workers) void w.run();
  try {
    const r = await decideReview(redis, config, keys, id, { category: 'audio', reviewer: 'alice' });
    assert.ok(r, 'decided');
    await waitFor('the decision stored', async () => (await redis.hget(keys.product('s1'), 'category')) === 'audio', 10_000);
    assert.is(await redis.hget(keys.product('s1'), 'reviewedBy'), 'alice');
  } finally {
    await stopAll(workers);
  }
});

test('a decided product is not sent back to review by the stages after the decision (validate had queued a confirmed item again: 2-3 items per product)', async () => {
  const pipeline = randomPipeline();
  const config = resolveConfig(
    {
      pipeline,
      input: 'in',
      defaults: FAST,
      stages: [
        { name: 'preprocess', kind: 'preprocess', input: 'in' },
        { name: 'classify', kind: 'classify', model: 'product-category', settings: { groups: { computing: ['storage', 'networking'] } } },
        { name: 'validate', kind: 'validate', settings: { schemas: { storage: { required: ['capacity'] } } } },
        { name: 'store', kind: 'store' },
      ],
      routes: {
        preprocess: [{ to: 'classify' }],
        classify: [{ when: { confidence: { lt: 0.5 } }, to: ['validate', 'review'] }, { to: 'validate' }],
        validate: [{ when: { attributesComplete: false }, to: ['store', 'review'] }, { to: 'store' }],
      },
    },
    'test',
    { env: { REDIS_URL: server.url } },
  );
  const keys = new Keys(pipeline);
  const id = await reviewEntry(keys, 'd1', `${await serverTimeMs(redis)}-0`);
  const workers = ['validate', 'store'].map((stage) => new Worker({ config, stage, stages: STAGES, logger: silentLogger }));
  for (const w of workers) void w.run();
  try {
    // Corrected to storage, which lacks its required capacity: validate's table sends it to store and review.
    const r = await decideReview(redis, config, keys, id, { category: 'storage', reviewer: 'alice' });
    assert.equal(
      r!.sentTo.map((s) => s.stream),
      ['validate'],
    );
    await waitFor('the decision stored', async () => (await redis.hget(keys.product('d1'), 'reviewedBy')) === 'alice', 10_000);
    const doc = JSON.parse((await redis.hget(keys.product('d1'), 'doc'))!) as { outputs: { validate: { attributesComplete?: boolean } } };
    assert.is(doc.outputs.validate.attributesComplete, false, "validate's review rule matched");
    assert.is(await redis.hget(keys.product('d1'), 'category'), 'storage');
    // Written with the store in one hand-off: a review item would be there by now.
    assert.is(await redis.xlen(keys.stream('review')), 1, 'only the item that was decided: not queued again');
  } finally {
    await stopAll(workers);
  }
});

test.run();
