/**
 * The console on a sharded pipeline (config `shards` = 3, one key set per shard `{p:N}:...`) on one
 * real redis-server, with records on every shard: the overview's figures are the shards' sums, a
 * dead letter of shard 2 is replayed and one of shard 1 purged (each named `<shard>/<id>`), the DLQ
 * pages walk every shard in one order, a review decision of a shard-1 product is applied on its
 * shard (and a second one answers 409), a shard-2 product is traced; one check in headless Chromium.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import { readLabels } from '../../lib/console/labels.js';
import { configShards } from '../../lib/redis/shard.js';
import { encodeEnvelope, newEnvelope, type Envelope } from '../../lib/stream/codec.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';
import { launchBrowser, signedIn } from '../helpers/browser.js';
import { addDeadLetter, ADMIN, ADMIN2, auth, READ, reviewRawConfig, startConsole } from '../helpers/console.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const server = await startRedis();
const redis = client(server.url);
const pipeline = randomPipeline('sh');
const config = resolveConfig({ ...reviewRawConfig(pipeline), shards: 3 }, 'test', { env: { REDIS_URL: server.url } });
const shards = configShards(config);
const { app, url } = await startConsole(config, { sampleIntervalMs: 200 });

const get = async (path: string, token = READ): Promise<Json> => {
  const r = await fetch(`${url}${path}`, { headers: auth(token) });
  assert.is(r.status, 200, `GET ${path}: ${r.status}`);
  return r.json();
};
const post = (path: string, body: unknown, token = ADMIN) =>
  fetch(`${url}${path}`, { method: 'POST', headers: { ...auth(token), 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** A product id that lands on shard `n` (the producer's FNV-1a of the key). */
const idOn = (n: number, prefix: string): string => {
  for (let i = 0; ; i++) if (shards.shardOf(`${prefix}${i}`) === n) return `${prefix}${i}`;
};

/** A review item as classify sends one (not sure of its category), on the product's shard. */
async function addReviewItem(key: string): Promise<string> {
  const env: Envelope = {
    ...newEnvelope({ id: key, title: `Koss headphones ${key}` }),
    outputs: { classify: { category: 'audio', confidence: 0.4 } },
    hops: [{ stage: 'classify', consumer: 'c', readAt: 1, doneAt: 2, batch: 1 }],
  };
  return (await redis.xadd(shards.keysFor(key).stream('review'), '*', 'k', key, 'e', encodeEnvelope(env)))!;
}

// Records on every shard: 2 + shard entries waiting on each shard's input, one dead letter and one review item each.
const dead: { shard: number; id: string; key: string }[] = [];
for (let n = 0; n < 3; n++) {
  const k = shards.shard(n);
  for (let i = 0; i < 2 + n; i++) {
    const id = idOn(n, `in${i}-`);
    await redis.xadd(k.stream('in'), '*', 'k', id, 'e', encodeEnvelope(newEnvelope({ id, title: 'Koss EQ50' })));
  }
  const key = idOn(n, 'dead');
  dead.push({ shard: n, id: await addDeadLetter(redis, k, { id: key, title: 'Koss EQ50 Equalizer' }), key });
  await addReviewItem(idOn(n, 'rev'));
}

test('overview and /metrics: every figure is the sum over the shards, each shard in `shards`', async () => {
  const lengths = await Promise.all(shards.all.map((k) => redis.xlen(k.stream('in'))));
  assert.equal(lengths, [2, 3, 4]);
  let s: Json;
  await waitFor(
    'a sample with every shard',
    async () => {
      s = await get('/console/api/stats');
      return s?.dlq === 3 && s.terminal.find((t: Json) => t.stream === 'review')?.open === 3;
    },
    10_000,
  );
  const pre = s.stages.find((x: Json) => x.stage === 'preprocess');
  assert.is(pre.length, 9, 'length: 2 + 3 + 4');
  assert.is(pre.lag, 9, 'lag (no group yet: the whole stream) summed');
  assert.is(pre.deadLetters, 3, 'dead letters of the stage over every shard');
  assert.equal(
    s.shards.map((sh: Json) => [sh.shard, sh.dlq, sh.stages.find((x: Json) => x.stage === 'preprocess').lag]),
    [
      [0, 1, 2],
      [1, 1, 3],
      [2, 1, 4],
    ],
  );
  const review = s.terminal.find((t: Json) => t.stream === 'review');
  assert.is(review.length, 3);
  const metrics = await (await fetch(`${url}/metrics`, { headers: auth(READ) })).text();
  assert.match(metrics, /pipeline_dlq_length\{[^}]*\} 3\n/);
  assert.match(metrics, /pipeline_group_lag\{[^}]*stage="preprocess"[^}]*\} 9\n/);
});

test('DLQ: entries of every shard, each with its shard; pages walk them in one order, a shared id included', async () => {
  // The same entry id on shards 0 and 2: the order (id, then shard) and the `<shard>/<id>` cursor keep both.
  const fields = ['k', 'twin', 'stage', 'preprocess', 'stream', 'in', 'id', '1-0', 'reason', 'max_deliveries', 'error', 'x', 'deliveries', '5', 'at', '1'];
  const twin = `${Date.now() + 1000}-7`;
  for (const n of [0, 2]) await redis.xadd(shards.shard(n).dlq, twin, ...fields);
  const all = await get('/console/api/dlq?count=100');
  assert.is(all.total, 5);
  assert.equal(
    all.entries.slice(-2).map((e: Json) => [e.shard, e.id]),
    [
      [0, twin],
      [2, twin],
    ],
  );
  assert.equal(new Set(all.entries.map((e: Json) => e.shard)), new Set([0, 1, 2]));
  const walked: string[] = [];
  for (let after = ''; ;) {
    const page = await get(`/console/api/dlq?count=1${after ? `&after=${encodeURIComponent(after)}` : ''}`);
    if (!page.entries.length) break;
    const e = page.entries[0];
    walked.push(`${e.shard}/${e.id}`);
    after = `${e.shard}/${e.id}`;
  }
  assert.equal(
    walked,
    all.entries.map((e: Json) => `${e.shard}/${e.id}`),
    'one entry a page, none skipped or repeated',
  );
  const g = all.groups.find((x: Json) => x.stage === 'preprocess' && x.reason === 'max_deliveries');
  assert.is(g.count, 5, 'the tally sums the shards');
  assert.is((await post('/console/api/dlq/purge', { ids: [`0/${twin}`, `2/${twin}`] })).status, 200);
  assert.is(await redis.xlen(shards.shard(0).dlq), 1);
  // A bare id is ambiguous with shards: refused, naming the form.
  const bare = await fetch(`${url}/console/api/dlq/${dead[2]!.id}`, { headers: auth(READ) });
  assert.is(bare.status, 400);
  assert.match(((await bare.json()) as Json).message, /<shard>\/<id>/);
  const one = await get(`/console/api/dlq/${dead[2]!.id}?shard=2`);
  assert.is(one.entry.key, dead[2]!.key);
  assert.is(one.entry.shard, 2);
});

test('DLQ actions: a dead letter of shard 2 replayed onto its own shard, one of shard 1 purged, both audited as <shard>/<id>', async () => {
  const before = await redis.xlen(shards.shard(2).stream('in'));
  const r = await post('/console/api/dlq/replay', { ids: [`2/${dead[2]!.id}`] });
  assert.is(r.status, 200);
  const body = (await r.json()) as Json;
  assert.equal(
    body.replayed.map((x: Json) => x.id),
    [`2/${dead[2]!.id}`],
  );
  assert.is(await redis.xlen(shards.shard(2).dlq), 0, 'gone from shard 2 DLQ');
  assert.is(await redis.xlen(shards.shard(2).stream('in')), before + 1, 'back on shard 2 input');
  const [, f] = (await redis.xrevrange(shards.shard(2).stream('in'), '+', '-', 'COUNT', 1))[0]!;
  assert.is(f[f.indexOf('k') + 1], dead[2]!.key);
  const p = await post('/console/api/dlq/purge', { ids: [`1/${dead[1]!.id}`] });
  assert.equal(await p.json(), { purged: 1 });
  assert.is(await redis.xlen(shards.shard(1).dlq), 0);
  assert.is(await redis.xlen(shards.shard(0).dlq), 1, 'shard 0 untouched');
  const bare = await post('/console/api/dlq/replay', { ids: [dead[0]!.id] });
  assert.is(bare.status, 400, 'a bare id is ambiguous with shards');
  const audit = (await get('/console/api/audit')).actions as Json[];
  assert.ok(audit.some((a) => a.action === 'dlq_replay' && a.ids.includes(`2/${dead[2]!.id}`)));
  assert.ok(audit.some((a) => a.action === 'dlq_purge' && a.ids.includes(`1/${dead[1]!.id}`)));
  assert.ok(await redis.xlen(`{${pipeline}}:console:audit`), 'the audit stream is the pipeline own');
});

test('review: items of every shard merged, a shard-1 decision applied on shard 1, a second one 409; labels exported', async () => {
  const page = await get('/console/api/review');
  assert.is(page.total, 3);
  assert.equal(page.items.map((i: Json) => i.shard).sort(), [0, 1, 2]);
  const item = page.items.find((i: Json) => i.shard === 1);
  // Paging: one item a page walks all three.
  const seen: string[] = [];
  for (let after = ''; ;) {
    const p = await get(`/console/api/review?count=1${after ? `&after=${encodeURIComponent(after)}` : ''}`);
    assert.is(p.items.length, 1, 'each page holds one: the last one offers no next page');
    seen.push(...p.items.map((i: Json) => i.key));
    if (!p.next) break;
    after = p.next;
  }
  assert.equal(seen.sort(), page.items.map((i: Json) => i.key).sort());
  assert.is((await post(`/console/api/review/${item.id}`, { category: 'audio' })).status, 400, 'no shard named: refused');
  const r = await post(`/console/api/review/${item.id}?shard=1`, { category: 'audio', fields: { brand: 'Koss' } });
  assert.is(r.status, 200, await r.clone().text());
  const result = (await r.json()) as Json;
  assert.is(result.label.id, item.key);
  const target = shards.shard(1).stream(result.sentTo[0].stream);
  assert.is((await redis.xrange(target, result.sentTo[0].id, result.sentTo[0].id)).length, 1, 'the corrected product is on shard 1');
  assert.is(await redis.hget(shards.shard(1).reviewed(item.key), 'by'), 'alice');
  const again = await post(`/console/api/review/${item.id}?shard=1`, { category: 'cameras_photo' }, ADMIN2);
  assert.is(again.status, 409);
  assert.is(((await again.json()) as Json).decision?.by, 'alice');
  const { labels } = await readLabels(redis, shards);
  assert.equal(
    labels.map((l) => [l.id, l.brand]),
    [[item.key, 'Koss']],
    'pipeline labels export reads the shard labels',
  );
  assert.is((await get('/console/api/review')).total, 2);
});

test('review: an item of shard 2 whose entry was trimmed is listed apart as 2/<id> and acknowledged on shard 2', async () => {
  const listed = (await get('/console/api/review')).items.find((i: Json) => i.shard === 2);
  await redis.xtrim(shards.shard(2).stream('review'), 'MAXLEN', 0);
  const page = await get('/console/api/review');
  assert.is(page.trimmed.count, 1);
  assert.equal(
    page.trimmed.items.map((i: Json) => [i.shard, i.id]),
    [[2, listed.id]],
  );
  assert.is(page.trimmed.until, `2/${listed.id}`);
  const r = await post('/console/api/review/trimmed/ack', { all: true, until: page.trimmed.until });
  assert.equal(await r.json(), { acknowledged: [`2/${listed.id}`] });
  assert.is((await get('/console/api/review')).trimmed.count, 0);
  assert.is(await redis.xlen(shards.shard(0).stream('review')), 1, 'shard 0 item untouched');
});

test('products: a shard-2 product traced on its shard (stored, its dead letter), and listed among recent products', async () => {
  const id = idOn(2, 'traced');
  const k = shards.shard(2);
  const hops = [{ stage: 'preprocess', consumer: 'w', readAt: 10, doneAt: 20, batch: 1 }];
  await redis.hset(
    k.product(id),
    'category',
    'audio',
    'storedAt',
    '30',
    'doc',
    JSON.stringify({ hops, outputs: { preprocess: {} }, producedAt: 5, input: { id } }),
  );
  await addDeadLetter(redis, k, { id, title: 'x' });
  const t = await get(`/console/api/products/${id}`);
  assert.is(t.state, 'stored');
  assert.is(t.stored.category, 'audio');
  assert.equal(
    t.hops.map((h: Json) => h.stage),
    ['preprocess'],
  );
  assert.is(t.deadLetters.length, 1, 'its dead letter, in shard 2 DLQ');
  await redis.xadd(k.done, '*', 'k', id, 's', 'stored');
  const recent = await get('/console/api/products');
  assert.ok(
    recent.products.some((p: Json) => p.id === id),
    'recent products read every shard completions',
  );
});

test('workers: the consumers of every shard group, each with its shard', async () => {
  for (const n of [1, 2]) {
    const key = shards.shard(n).stream('in');
    await redis.xgroup('CREATE', key, 'preprocess', '0');
    await redis.xreadgroup('GROUP', 'preprocess', `w-${n}`, 'COUNT', 1, 'STREAMS', key, '>');
  }
  const w = await get('/console/api/workers');
  const pre = w.stages.find((s: Json) => s.stage === 'preprocess');
  assert.equal(
    pre.consumers.map((c: Json) => [c.name, c.shard, c.pending]),
    [
      ['w-1', 1, 1],
      ['w-2', 2, 1],
    ],
  );
});

test('page (Chromium): the DLQ view names each entry <shard>/<id> and replays the one selected on its shard', async () => {
  const key = idOn(1, 'paged');
  const id = await addDeadLetter(redis, shards.shard(1), { id: key, title: 'Koss EQ50 Equalizer' });
  const browser = await launchBrowser();
  try {
    const { page, errors } = await signedIn(browser, url, ADMIN, 'dlq');
    const row = page.locator(`#dlq-entries tbody tr:has-text("${key}")`);
    await row.waitFor();
    assert.is(await row.locator('a').textContent(), `1/${id}`);
    await row.locator('input[type=checkbox]').check();
    await page.click('#dlq-replay-selected');
    await page.waitForSelector('#dlq-result:has-text("Replayed 1")');
    assert.is(await redis.xlen(shards.shard(1).dlq), 0);
    assert.equal(errors, []);
  } finally {
    await browser.close();
  }
});

test.after(async () => {
  await app.close();
  redis.disconnect();
  await server.stop();
});

test.run();
