/**
 * Review items that may no longer be decided (docs/console.md, lib/console/review-decide.ts),
 * through the console's HTTP API on a real Redis: an item of a product decided since (another item
 * of it) and an item of an older record (the product produced again since) answer 409 naming the
 * newer version, are closed and recorded in the audit, and change nothing; a record produced
 * after the item but stored after the decision wins over the decision in the store.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readAudit } from '../../lib/ops/audit.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { isIdle, pipelineStatus } from '../../lib/ops/inspect.js';
import { Keys } from '../../lib/redis/keys.js';
import { serverTimeMs } from '../../lib/redis/server-time.js';
import { encodeEnvelope, newEnvelope, type Envelope } from '../../lib/stream/codec.js';
import { Worker } from '../../lib/worker/worker.js';
import { STAGES } from '../../stages/index.js';
import { ADMIN, auth, groupReviewConfig, READ, startConsole } from '../helpers/console.js';
import { stopAll } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);

/** A review item of `key` as `from` (classify, or validate further on) queued it: predicted networking, unsure. */
async function addItem(keys: Keys, key: string, origin: string, from: 'classify' | 'validate', title = 'Bluecorp speaker 3000'): Promise<void> {
  const stages = from === 'classify' ? ['preprocess', 'classify'] : ['preprocess', 'classify', 'validate'];
  const env: Envelope = {
    ...newEnvelope({ id: key, title }),
    origin,
    outputs: {
      preprocess: { title, text: title },
      classify: { category: 'networking', confidence: 0.4, group: 'computing' },
      ...(from === 'validate' ? { validate: { valid: true } } : {}),
    },
    hops: stages.map((stage) => ({ stage, consumer: 'c', readAt: 1, doneAt: 1, batch: 1 })),
  };
  await redis.xadd(keys.stream('review'), '*', 'k', key, 'e', encodeEnvelope(env));
}

type Item = { id: string; key: string; from: string; title: string };
const listed = async (url: string): Promise<Item[]> =>
  ((await (await fetch(`${url}/console/api/review?count=100`, { headers: auth(READ) })).json()) as { items: Item[] }).items;
const decide = async (url: string, id: string, body: Record<string, unknown>) => {
  const r = await fetch(`${url}/console/api/review/${id}`, {
    method: 'POST',
    headers: { ...auth(ADMIN), 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
};
const pendingCount = async (keys: Keys) => ((await redis.xpending(keys.stream('review'), 'console')) as [number])[0];

test("deciding one item of a product closes its older items: trying one from an old page answers 409 superseded naming the decision, recorded once, nothing sent or labelled (the validate item had overwritten the classify item's decision)", async () => {
  const c = groupReviewConfig(server.url, randomPipeline());
  const keys = new Keys(c.pipeline);
  const { app, url } = await startConsole(c);
  try {
    const origin = `${(await serverTimeMs(redis)) - 60_000}-0`;
    await addItem(keys, 'k6', origin, 'classify');
    await addItem(keys, 'k6', origin, 'validate');
    const [first, second] = await listed(url);
    assert.equal([first!.from, second!.from], ['classify', 'validate']);
    const ok = await decide(url, first!.id, { category: 'audio' });
    assert.is(ok.status, 200, JSON.stringify(ok.body));
    const late = await decide(url, second!.id, { category: 'networking' });
    assert.is(late.status, 409, JSON.stringify(late.body));
    assert.is(late.body.error, 'superseded');
    assert.equal(late.body.decision && [(late.body.decision as { by: string }).by, (late.body.decision as { entry: string }).entry], ['alice', first!.id]);
    assert.match(String(late.body.message), /was decided since/);
    assert.is(await redis.hget(keys.reviewed('k6'), 'origin'), late.body.version, "named by the first decision's version");
    assert.is(await pendingCount(keys), 0, 'the older item is closed');
    assert.is((await readAudit(redis, keys)).filter((e) => e.action === 'review_closed').length, 1, 'closed once, with the decision');
    assert.equal([await redis.xlen(keys.stream('validate')), await redis.xlen(keys.stream('store')), await redis.xlen(keys.extra('labels'))], [1, 0, 1]);
    const closed = (await readAudit(redis, keys)).find((e) => e.action === 'review_closed');
    assert.equal([closed?.entry, closed?.key, closed?.reason, closed?.by], [second!.id, 'k6', 'superseded', 'alice']);
    // An item of a record produced after the decision is a new question: decided.
    await addItem(keys, 'k6', `${(await serverTimeMs(redis)) + 1}-0`, 'classify', 'Bluecorp speaker 3000 v2');
    const [third] = await listed(url);
    assert.is((await decide(url, third!.id, { category: 'networking' })).status, 200);
  } finally {
    await app.close();
  }
});

test("deciding an item takes the product's other items of that record off the list at once (listed or not yet delivered), the counts with them; an item of a newer record stays (they had stayed listed until a reviewer tried one: 409)", async () => {
  const c = groupReviewConfig(server.url, randomPipeline());
  const keys = new Keys(c.pipeline);
  const { app, url } = await startConsole(c);
  try {
    const now = await serverTimeMs(redis);
    const origin = `${now - 60_000}-0`;
    await addItem(keys, 'k7', origin, 'classify');
    await addItem(keys, 'k7', origin, 'validate');
    await addItem(keys, 'n7', origin, 'classify');
    await addItem(keys, 'k7', origin, 'validate', 'Bluecorp speaker 3000 (queued again)');
    await addItem(keys, 'k7', `${now + 60_000}-0`, 'classify', 'Bluecorp speaker 3000 v2');
    // The first page (two items) delivers only those two: the later items of k7 are not listed yet.
    const page = async (count: number) =>
      (await (await fetch(`${url}/console/api/review?count=${count}`, { headers: auth(READ) })).json()) as { items: Item[]; total: number };
    const first = await page(2);
    assert.equal(
      first.items.map((i) => [i.key, i.from]),
      [
        ['k7', 'classify'],
        ['k7', 'validate'],
      ],
    );
    assert.is(first.total, 5);
    const ok = await decide(url, first.items[0]!.id, { category: 'audio' });
    assert.is(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(
      (ok.body.closed as { id: string }[]).map((x) => x.id),
      [first.items[1]!.id],
      'the listed item of the record is closed with the decision',
    );
    const after = await page(100);
    assert.equal(
      after.items.map((i) => i.key),
      ['n7', 'k7'],
    );
    assert.is(after.items[1]!.title, 'Bluecorp speaker 3000 v2', "the newer record's item is a new question");
    assert.is(after.total, 2, 'counted as listed');
    assert.is(await pendingCount(keys), 2);
    const closed = (await readAudit(redis, keys)).filter((e) => e.action === 'review_closed').map((e) => [e.entry, e.reason, e.by]);
    assert.is(closed.length, 2, JSON.stringify(closed));
    assert.ok(
      closed.every(([, reason, by]) => reason === 'superseded' && by === 'alice'),
      JSON.stringify(closed),
    );
    assert.equal([await redis.xlen(keys.stream('validate')), await redis.xlen(keys.extra('labels'))], [1, 1], 'one decision applied');
  } finally {
    await app.close();
  }
});

test('an item of an older record (the product produced again since) answers 409 stale naming the stored version, is closed and changes nothing; one stored again with the same input (a reprocess) is decided', async () => {
  const c = groupReviewConfig(server.url, randomPipeline());
  const keys = new Keys(c.pipeline);
  const { app, url } = await startConsole(c);
  try {
    const now = await serverTimeMs(redis);
    const doc = (title: string) => JSON.stringify({ key: 'x', input: { id: 's4', title }, outputs: {}, hops: [] });
    for (const [key, title] of [
      ['s4', 'Edge 2TB USB Hard Drive EDGDG-223687-PE'],
      ['r4', 'Bluecorp speaker 3000'],
    ] as const) {
      await addItem(keys, key, `${now - 60_000}-0`, 'classify');
      await redis.hset(
        keys.product(key),
        'doc',
        doc(title).replace('"s4"', JSON.stringify(key)),
        'category',
        'storage',
        'version',
        `${now - 1_000}-0`,
        'entry',
        '9-9',
      );
    }
    const items = await listed(url);
    const stale = await decide(url, items.find((i) => i.key === 's4')!.id, { category: 'audio' });
    assert.is(stale.status, 409, JSON.stringify(stale.body));
    assert.equal([stale.body.error, stale.body.key, stale.body.version], ['stale', 's4', `${now - 1_000}-0`]);
    assert.match(String(stale.body.message), new RegExp(`a newer record of s4 is stored \\(version ${now - 1_000}-0`));
    assert.equal(await redis.hmget(keys.product('s4'), 'category', 'version', 'reviewedBy'), ['storage', `${now - 1_000}-0`, null]);
    assert.equal([await redis.xlen(keys.stream('validate')), await redis.xlen(keys.extra('labels'))], [0, 0], 'nothing sent, no label');
    const closed = (await readAudit(redis, keys)).find((e) => e.action === 'review_closed');
    assert.equal([closed?.entry, closed?.reason, closed?.version], [items.find((i) => i.key === 's4')!.id, 'stale', `${now - 1_000}-0`]);
    // r4 was stored again with the input its item shows (a reprocess): the decision applies, after that version.
    const same = await decide(url, items.find((i) => i.key === 'r4')!.id, { category: 'audio' });
    assert.is(same.status, 200, JSON.stringify(same.body));
    assert.is(await pendingCount(keys), 0);
  } finally {
    await app.close();
  }
});

test('a record produced after the item but stored after the decision wins over the decision in the store (the decision had taken the time of day as its version and dropped it)', async () => {
  const c = groupReviewConfig(server.url, randomPipeline());
  const keys = new Keys(c.pipeline);
  const { app, url } = await startConsole(c);
  const store = new Worker({ config: c, stage: 'store', stages: STAGES, logger: silentLogger });
  void store.run();
  try {
    const now = await serverTimeMs(redis);
    await addItem(keys, 'f4', `${now - 60_000}-0`, 'classify');
    const [item] = await listed(url);
    assert.is((await decide(url, item!.id, { category: 'networking' })).status, 200);
    await waitFor('the decision stored', async () => (await redis.hget(keys.product('f4'), 'reviewedBy')) === 'alice', 10_000);
    // Produced before the decision (its input-stream id is older than the decision's time), in flight until now.
    const newer: Envelope = { ...newEnvelope({ id: 'f4', title: 'Bluecorp speaker 4000' }), origin: `${now - 1_000}-0` };
    await redis.xadd(keys.stream('store'), '*', 'k', 'f4', 'e', encodeEnvelope(newer));
    await waitFor('store idle', async () => isIdle(await pipelineStatus(redis, c)), 10_000);
    const doc = JSON.parse((await redis.hget(keys.product('f4'), 'doc'))!) as { input: { title: string } };
    assert.is(doc.input.title, 'Bluecorp speaker 4000', 'the newer record is stored');
    assert.is(await redis.hget(keys.product('f4'), 'version'), `${now - 1_000}-0`);
  } finally {
    await stopAll([store]);
    await app.close();
  }
});

test.run();
