/**
 * Review items whose stream entries were trimmed (XTRIM of the review stream, as
 * streams.terminalMaxAgeMs does) against a real redis-server: they had stayed in the console
 * group's pending list for ever, counted in "N undecided" but never shown, so they could be neither
 * reached nor cleared. Now they are counted apart, listed with their ids, and acknowledged by an
 * admin (acked, counted and audited); those trimmed before the console listed them are counted.
 * An acknowledged item leaves its product's open-items hash (`{p}:console:review-open:<key>`, no
 * TTL), which a soak had seen pile up, one per product whose listed items were trimmed.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Keys } from '../../lib/redis/keys.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';
import { addReviewItems, ADMIN, auth, READ, reviewConfig, startConsole } from '../helpers/console.js';

const server = await startRedis();
const redis = client(server.url);
const pipeline = randomPipeline('rt');
const keys = new Keys(pipeline);
const review = keys.stream('review');
const { app, url } = await startConsole(reviewConfig(server.url, pipeline), { sampleIntervalMs: 100 });

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const get = async (path: string): Promise<any> => {
  const res = await fetch(`${url}${path}`, { headers: auth(READ) });
  assert.is(res.status, 200, await res.clone().text());
  return res.json();
};
const ack = (body: unknown, token = ADMIN) =>
  fetch(`${url}/console/api/review/trimmed/ack`, {
    method: 'POST',
    headers: { ...auth(token), 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
const acked = async (res: Response) => ((await res.json()) as { acknowledged: string[] }).acknowledged;
const pel = async () => Number(((await redis.xpending(review, 'console')) as [number])[0]);
const keysOf = (items: { key: string }[]) => items.map((i) => i.key);

let trimmedIds: string[] = [];

test('items trimmed under the pending list are counted apart and listed by id; the undecided count is what can be reviewed (it had said 10 of which 3 could be reached)', async () => {
  await addReviewItems(redis, keys, 10); // r0..r9
  const first = await get('/console/api/review?count=4');
  assert.equal(keysOf(first.items), ['r0', 'r1', 'r2', 'r3']);
  assert.is(await pel(), 4);
  trimmedIds = first.items.map((i: { id: string }) => i.id);
  // Trim to the newest 3: r0..r3 were listed (pending), r4..r6 never were.
  assert.is(await redis.xtrim(review, 'MAXLEN', 3), 7);

  const page = await get('/console/api/review');
  assert.equal(keysOf(page.items), ['r7', 'r8', 'r9'], 'the reviewable items, and only they');
  assert.is(page.total, 3, 'undecided: the items that can still be reviewed');
  assert.is(page.trimmed.count, 4, 'pending items whose entries were trimmed');
  assert.ok(page.trimmed.complete);
  assert.equal(
    page.trimmed.items.map((i: { id: string }) => i.id),
    trimmedIds,
    'listed by id, oldest first',
  );
  assert.is(page.trimmed.items[0].deliveries, 1);
  assert.is(page.trimmed.until, trimmedIds.at(-1));
  assert.is(page.trimmed.unlisted, 3, 'trimmed before the console listed them: counted, not lost');
  assert.is(await pel(), 7, 'the three reviewable ones delivered beside the four trimmed');

  // Listed again (the group has read past the trim): the counts hold; Redis' lag had stayed 3 too high.
  const again = await get('/console/api/review');
  assert.is(again.total, 3);
  assert.is(again.trimmed.count, 4);
  assert.is(again.trimmed.unlisted, 3, 'counted once');
  await addReviewItems(redis, keys, 2, 10);
  assert.is((await get('/console/api/review?count=1')).total, 5, 'new items count, nothing else');

  // The live sample (node, badge, SSE) says the same.
  await waitFor(
    'the sample to count 5 open and 4 trimmed',
    async () => {
      const t = (await get('/console/api/stats'))?.terminal?.find((x: { stream: string }) => x.stream === 'review');
      return t?.open === 5 && t?.trimmed === 4;
    },
    10_000,
  );
});

test('an admin acknowledges the trimmed items: acked, counted, audited; an item whose entry is still there is not acked by it; a read token may not', async () => {
  assert.is((await ack({ all: true }, READ)).status, 403);
  assert.is((await ack({})).status, 400, 'ids or all: true');
  const live = (await get('/console/api/review')).items[0].id as string;
  const some = await ack({ ids: [trimmedIds[0], live] });
  assert.is(some.status, 200, await some.clone().text());
  assert.equal(await acked(some), [trimmedIds[0]], 'the live entry is not a trimmed one');
  const rest = await ack({ all: true, until: trimmedIds.at(-1) });
  assert.equal(await acked(rest), trimmedIds.slice(1));
  const page = await get('/console/api/review');
  assert.is(page.trimmed.count, 0);
  assert.equal(page.trimmed.items, []);
  assert.is(page.trimmed.acknowledged, 4, 'kept as a count');
  assert.is(page.total, 5, 'the reviewable ones untouched');
  assert.is(await pel(), 5);
  // The acknowledged items leave their products' open-items hashes (no TTL: they had stayed for good).
  assert.is(await redis.exists(...['r0', 'r1', 'r2', 'r3'].map((k) => keys.reviewOpen(k))), 0, 'no open-items hash of an acknowledged item is left');
  assert.equal(
    Object.values(await redis.hgetall(keys.reviewListed)).sort(),
    ['r10', 'r11', 'r7', 'r8', 'r9'],
    'the index holds the listed, pending items only',
  );
  assert.is(await redis.exists(...['r7', 'r8', 'r9', 'r10', 'r11'].map((k) => keys.reviewOpen(k))), 5, 'the reviewable items stay open');
  const { actions } = await get('/console/api/audit');
  const audited = actions.filter((a: { action: string }) => a.action === 'review_ack_trimmed');
  assert.is(audited.length, 2);
  assert.equal(audited[0].ids, trimmedIds.slice(1));
  assert.is(audited[0].by, 'alice');
});

test('"all" takes only the trimmed items up to the one the operator saw (`until`)', async () => {
  const before = (await get('/console/api/review?count=50')).items.map((i: { id: string }) => i.id);
  await redis.xtrim(review, 'MAXLEN', 0); // everything left goes: five pending items
  const page = await get('/console/api/review');
  assert.is(page.total, 0);
  assert.is(page.trimmed.count, 5);
  const res = await ack({ all: true, until: before[1] });
  assert.equal(await acked(res), before.slice(0, 2));
  assert.is((await get('/console/api/review')).trimmed.count, 3);
  assert.is(await redis.hlen(keys.reviewListed), 3, 'the two acknowledged leave the index; the three trimmed, not acknowledged, stay');
});

test.after(async () => {
  await app.close();
  redis.disconnect();
  await server.stop();
});
test.run();
