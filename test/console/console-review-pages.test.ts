/**
 * The review list through the console's API: pages of undecided items, oldest first, with how
 * many there are in all and how many come before the page; listing a page again delivers nothing
 * new to the console group.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Keys } from '../../lib/redis/keys.js';
import { client, randomPipeline, startRedis } from '../helpers/redis.js';
import { addReviewItems, ADMIN, auth, READ, reviewConfig, startConsole } from '../helpers/console.js';

const server = await startRedis();
const redis = client(server.url);
const pipeline = randomPipeline('rp');
const keys = new Keys(pipeline);
const config = reviewConfig(server.url, pipeline);
const { app, url } = await startConsole(config);

const toReview = (n: number, from = 0) => addReviewItems(redis, keys, n, from);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const page = async (query = ''): Promise<any> => {
  const res = await fetch(`${url}/console/api/review${query}`, { headers: auth(READ) });
  assert.is(res.status, 200, await res.clone().text());
  return res.json();
};
const pel = async () => Number(((await redis.xpending(keys.stream('review'), 'console')) as [number])[0]);

test('120 undecided items: pages of 50 oldest first, "of 120", the newest reachable; a page listed again delivers nothing new (each visit had moved 50 more into the pending list, and only the 50 oldest were ever shown)', async () => {
  await toReview(120);
  const first = await page();
  assert.is(first.total, 120, 'how many are undecided in all');
  assert.equal(
    first.items.map((i: { key: string }) => i.key),
    Array.from({ length: 50 }, (_, i) => `r${i}`),
  );
  assert.is(await pel(), 50, 'only what the page shows is delivered');
  for (let visit = 0; visit < 3; visit++) await page();
  assert.is(await pel(), 50, 'visiting the first page again delivers nothing new');
  const second = await page(`?after=${first.next}`);
  assert.equal(second.items[0].key, 'r50');
  assert.is(second.items.length, 50);
  const third = await page(`?after=${second.next}`);
  assert.equal(
    third.items.map((i: { key: string }) => i.key),
    Array.from({ length: 20 }, (_, i) => `r${100 + i}`),
    'the newest items are reachable',
  );
  assert.is(third.next, null, 'the last page says so');
  assert.is(await pel(), 120);
  assert.is(third.total, 120);
});

test('a decision made on the second page leaves one fewer in all; count and after are checked', async () => {
  const second = await page(`?count=10&after=${(await page('?count=50')).next}`);
  assert.is(second.items.length, 10);
  const it = second.items[0];
  const res = await fetch(`${url}/console/api/review/${it.id}`, {
    method: 'POST',
    headers: { ...auth(ADMIN), 'content-type': 'application/json' },
    body: JSON.stringify({ category: 'audio' }),
  });
  assert.is(res.status, 200, await res.text());
  const again = await page(`?count=10&after=${(await page('?count=50')).next}`);
  assert.is(again.total, 119);
  assert.not.ok(
    again.items.some((i: { id: string }) => i.id === it.id),
    'the decided item is gone from its page',
  );
  assert.is((await fetch(`${url}/console/api/review?count=0`, { headers: auth(READ) })).status, 400);
  assert.is((await fetch(`${url}/console/api/review?after=nope`, { headers: auth(READ) })).status, 400);
});

test('a page says how many undecided items come before it, counted when read: fewer once items before it are decided (the view had numbered page 2 "Items 51–…" whatever was left before it)', async () => {
  const first = await page('?count=50');
  assert.equal(first.before, { count: 0, complete: true });
  const second = await page(`?count=50&after=${first.next}`);
  assert.equal(second.before, { count: 50, complete: true }, 'the first page is full: 50 before the second');
  for (const it of first.items.slice(0, 3)) {
    const res = await fetch(`${url}/console/api/review/${it.id}`, {
      method: 'POST',
      headers: { ...auth(ADMIN), 'content-type': 'application/json' },
      body: JSON.stringify({ category: 'audio' }),
    });
    assert.is(res.status, 200, await res.text());
  }
  const again = await page(`?count=50&after=${first.next}`);
  assert.equal(again.before, { count: 47, complete: true }, 'three decided before it');
  assert.equal(again.items[0].id, second.items[0].id, 'the same page');
  assert.ok(again.before.count + again.items.length <= again.total, 'its items are numbered within the total');
  // The count stops at the console's maxBulk, and says so.
  const capped = await startConsole(config, { sampleIntervalMs: 300, maxBulk: 10 });
  try {
    const res = await fetch(`${capped.url}/console/api/review?count=50&after=${first.next}`, { headers: auth(READ) });
    assert.equal(((await res.json()) as { before: unknown }).before, { count: 10, complete: false });
  } finally {
    await capped.app.close();
  }
});

test('a full page with nothing undecided after it says it is the last (its `next` had led to an empty page); asking does not deliver', async () => {
  await redis.del(keys.stream('review'));
  await toReview(50, 500);
  const only = await page();
  assert.is(only.items.length, 50);
  assert.is(only.next, null, 'exactly one full page: no next one');
  await toReview(1, 550); // not delivered yet
  const full = await page();
  assert.is(full.next, full.items.at(-1).id, 'one undelivered item after it: a next page');
  assert.is(await pel(), 50, 'knowing there is one more delivers nothing');
  const last = await page(`?after=${full.next}`);
  assert.equal(
    last.items.map((i: { key: string }) => i.key),
    ['r550'],
  );
  assert.is(last.next, null);
  const res = await fetch(`${url}/console/api/review/${last.items[0].id}`, {
    method: 'POST',
    headers: { ...auth(ADMIN), 'content-type': 'application/json' },
    body: JSON.stringify({ category: 'audio' }),
  });
  assert.is(res.status, 200, await res.text());
  assert.is((await page()).next, null, 'the item after it was decided: the first page is the last again');
});

test.after(async () => {
  await app.close();
  redis.disconnect();
  await server.stop();
});
test.run();
