/**
 * `pipeline serve` on its own ACL user (`<pipeline>-api`, `PIPELINE_API_REDIS_URL` from `pipeline
 * acl --apply --write-env`): the API's submit, enrich, status and events, and every console view
 * and action (DLQ replay and purge, a review decision, the trimmed-review ack, pause and resume, a
 * stage purge, revoke, the data-loss list and ack) run with no refusal
 * (the trimmed-review paths with items really trimmed: review-unlisted-2.lua, review-ack-trimmed-2.lua)
 * (Redis' ACL LOG names none for the user), and the user is refused what the server never does.
 */
import { rmSync } from 'node:fs';
import { Redis } from 'ioredis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { aclUsers } from '../../lib/ops/acl.js';
import { createLogger } from '../../lib/observe/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import { encodeEnvelope, newEnvelope, type Envelope } from '../../lib/stream/codec.js';
import { stageDataAccess } from '../../stages/access.js';
import { error, NOPERM } from '../helpers/acl.js';
import { addDeadLetter } from '../helpers/console.js';
import { rulesOnlyConfig, startWorkers, stopAll, writeConfig } from '../helpers/pipeline.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';
import { aclRefusals, applyApiUser, purgeThroughApi, serveAsApiUser, type ServedApi } from '../helpers/serve-as-user.js';

const server = await startRedis();
const admin = client(server.url);
const TOKEN = 'serve-user-token-0123456789';
const refusals = (user: string) => aclRefusals(admin, user);

/** A review item as a stage sends one to review (category not sure): from preprocess, whose table routes it on. */
async function addReviewItem(keys: Keys, id: string): Promise<string> {
  const env: Envelope = {
    ...newEnvelope({ id, title: 'Koss EQ50 3-Band Stereo Equalizer' }),
    outputs: { preprocess: { category: 'audio', confidence: 0.4 } },
    hops: [{ stage: 'preprocess', consumer: 'c', readAt: 1, doneAt: 2, batch: 1 }],
  };
  return (await admin.xadd(keys.stream('review'), '*', 'k', id, 'e', encodeEnvelope(env)))!;
}

/** The first chunk of a Server-Sent Events stream that carries `data:`, then the request is cut off. */
async function firstEvent(url: string, timeoutMs: number): Promise<string> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  try {
    const res = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` }, signal: ac.signal });
    assert.is(res.status, 200, url);
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes('data:')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString();
    }
    return text;
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
}

test('pipeline serve as the API user of `pipeline acl --apply`: submit, enrich, status, events and every console action (a stage purge too), nothing refused; FUNCTION, FLUSHALL, CONFIG and CREATE and DESTROY of a stage group refused', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  const configFile = writeConfig(pipeline, undefined, { logs: { stream: true, flushIntervalMs: 200 } });
  const { apiUrl, user } = await applyApiUser(configFile, server.url, pipeline);

  // The workers (as the admin: this test is about the server's user) and the server, as `pipeline serve` starts it.
  const config = rulesOnlyConfig(server.url, pipeline);
  const workers = startWorkers(config);
  const logs: string[] = [];
  let served: ServedApi | undefined;
  try {
    served = await serveAsApiUser(
      config,
      apiUrl,
      TOKEN,
      createLogger({ component: 'api' }, 'warn', (l) => logs.push(l)),
    );
    const { base, call } = served;
    const clients = String(await admin.client('LIST'));
    assert.match(clients, new RegExp(`name=api:cmd .*user=${user} `), 'the command connection is the API user');
    assert.match(clients, new RegExp(`name=api:done .*user=${user} `), 'the completions reader is the API user');

    // The API.
    assert.equal((await call('/v1/products', [{ id: 's1', title: 'SanDisk Ultra 64GB USB 3.0 Flash Drive SDCZ48-064G-A46' }])).accepted, ['s1']);
    const enriched = await call('/v1/enrich?timeout_ms=10000', { id: 'e1', title: 'Koss EQ50 3-Band Stereo Equalizer' });
    assert.is(enriched.status, 'stored', JSON.stringify(enriched));
    assert.is((await call('/v1/products/s1?wait_ms=10000')).status, 'stored');
    assert.match(await firstEvent(`${base}/v1/events?last_event_id=0-0`, 10_000), /data:.*"stored"/);
    assert.equal(await call('/healthz'), { ok: true });

    // The console's views.
    const d1 = await addDeadLetter(admin, keys, { id: 'd1', title: 'Koss EQ50 3-Band Stereo Equalizer' });
    const d2 = await addDeadLetter(admin, keys, { id: 'd2', title: 'Koss EQ50 3-Band Stereo Equalizer' });
    const entry = await addReviewItem(keys, 'r1');
    for (const path of ['me', 'graph', 'stats', 'history?minutes=5', 'dlq', `dlq/${d1}`, 'products', 'products/s1', 'workers', 'audit'])
      await call(`/console/api/${path}`);
    assert.match(await call('/metrics'), /pipeline_stream_length/);
    assert.match(await firstEvent(`${base}/console/api/events`, 10_000), /data:/);
    let items: { id: string }[] = [];
    await waitFor('the review item listed', async () => (items = (await call('/console/api/review')).items).length === 1, 10_000);
    assert.is(items[0]!.id, entry);

    // The console's actions.
    assert.is((await call('/console/api/dlq/replay', { ids: [d1] })).replayed.length, 1);
    assert.is((await call('/console/api/dlq/purge', { ids: [d2] })).purged, 1);
    const decided = await call(`/console/api/review/${entry}`, { category: 'audio', fields: { brand: 'Koss' } });
    assert.equal(
      decided.sentTo.map((s: { stream: string }) => s.stream),
      ['store'],
    );
    await call('/console/api/review/trimmed/ack', { all: true });
    // Pause and resume (the console's buttons): the paused flags {p}:paused:<stage>.
    assert.equal(await call('/v1/stages/validate/pause', { reason: 'acl' }), { stages: ['validate'] });
    assert.is((await call('/v1/stages')).stages.find((x: { stage: string }) => x.stage === 'validate').paused.by, 'api:alice');
    assert.equal(await call('/v1/stages/validate/resume', {}), { stages: ['validate'] });
    // The console's Purge (stage-purge-N.lua): dead letters and completions added, statuses set, the group moved past them.
    const preprocess = config.stages.find((s) => s.name === 'preprocess')!;
    const { dry, purged } = await purgeThroughApi(served, admin, preprocess, keys.stream('in'), 3);
    assert.is(dry.waiting, 3, JSON.stringify(dry));
    assert.is(purged.purged, 3, JSON.stringify(purged));
    assert.is((await admin.xrange(keys.done, '-', '+')).filter(([, f]) => f.includes('purged')).length, 3, "each purged record's completion");
    // Revoke (POST /v1/products/{id}/revoke): revoke-4.lua reads the status and the input stream, writes {p}:revokes, deletes the id's reprocess marker.
    const revoked = await call('/v1/products/x9/revoke', { reason: 'acl' });
    assert.is(revoked.revoked, true, JSON.stringify(revoked));
    const [, marker] = ((await admin.xrange(keys.revokes, '-', '+')) as [string, string[]][])[0]!;
    assert.equal(marker, ['k', 'x9', 'c', revoked.cutoff, 'b', 'api:alice', 'r', 'acl']);
    // A data loss as a worker records it (lib/stream/data-loss.ts), listed and acknowledged (the console's banner): {p}:data-lost.
    const now = String(Date.now());
    await admin.hset(keys.dataLost, {
      at: now,
      what: 'marker_gone',
      stage: 'preprocess',
      consumer: 'c',
      stream: keys.epoch,
      seen: 'x',
      reports: '1',
      lastAt: now,
    });
    assert.is((await call('/v1/data-loss')).length, 1);
    assert.is((await call('/v1/data-loss/ack', {})).acknowledged.length, 1);
    assert.equal(await call('/v1/data-loss'), [], 'the record acknowledged');
    assert.ok(await admin.hget(keys.dataLost, 'acked'), 'marked acknowledged, kept for late reports of the same loss');
    await waitFor(
      'the replayed and the reviewed product stored',
      async () => (await admin.hget(keys.product('r1'), 'reviewedBy')) === 'alice' && (await admin.exists(keys.product('d1'))) === 1,
      15_000,
    );
    assert.equal(((await call('/console/api/audit')).actions as { action: string }[]).map((a) => a.action).sort(), [
      'data_loss_ack',
      'dlq_purge',
      'dlq_replay',
      'product_revoke',
      'review_ack_trimmed',
      'review_decision',
      'stage_pause',
      'stage_pause',
      'stage_purge',
      'stage_resume',
      'stage_resume',
    ]);
    // A sample or two more (the sampler's lease and series), then nothing the user was refused.
    await waitFor('the console wrote its series', async () => (await admin.xlen(keys.extra('console:stats'))) >= 2, 10_000);
    assert.equal(await refusals(user), [], 'Redis refused the API user nothing');
    assert.not.ok(
      logs.some((l) => /NOPERM|no permissions/i.test(l)),
      logs.filter((l) => /NOPERM/i.test(l)).join('\n'),
    );
  } finally {
    await served?.close();
    await stopAll(workers);
    rmSync(configFile, { force: true });
  }

  // What the server never does, refused.
  const api = new Redis(apiUrl, { maxRetriesPerRequest: 1 });
  try {
    const refused: [string, Promise<unknown>][] = [
      ['FUNCTION LOAD', api.call('FUNCTION', 'LOAD', "#!lua name=mine\nredis.register_function('f', function() return 1 end)")],
      ['FUNCTION FLUSH', api.call('FUNCTION', 'FLUSH')],
      ['EVAL', api.eval('return 1', 0)],
      ['FLUSHALL', api.flushall()],
      ['CONFIG SET', api.config('SET', 'maxmemory', '1')],
      ['XGROUP DESTROY of a stage group', api.xgroup('DESTROY', keys.stream('store'), 'store')],
      ['XGROUP CREATE of a stage group', api.xgroup('CREATE', keys.stream('store'), 'other', '0')],
      // SETID of a stage's group is granted (a stage purge moves it), that of the completions' webhook group is not.
      ['XGROUP SETID of the webhooks group', api.xgroup('SETID', keys.done, 'webhooks', '0')],
      ['XTRIM of a stage stream', api.xtrim(keys.stream('store'), 'MAXLEN', 0)],
      ['DEL of a product', api.del(keys.product('s1'))],
      ['XREADGROUP as a stage', api.xreadgroup('GROUP', 'store', 'x', 'STREAMS', keys.stream('store'), '>')],
      ['ACL SETUSER', api.call('ACL', 'SETUSER', user, 'on', '+@all')],
      ['a reprocess marker (`pipeline reprocess` stays the admin`s)', api.hset(`${keys.tag}:reprocess:s1`, 'origin', '1-0')],
      ['a key of another pipeline', api.get('{other}:status:x')],
    ];
    for (const [what, p] of refused) assert.match(await error(p), NOPERM, `${what}: refused`);
    // The submit's WAIT (api.submitWaitReplicas): allowed, as the producer's (it was NOPERM).
    assert.is(await api.call('WAIT', '0', '0'), 0, 'WAIT: allowed');
    // The replica count of submitWaitReplicas "auto" (the default): INFO replication, allowed.
    assert.match(String(await api.info('replication')), /connected_slaves:0/, 'INFO replication: allowed');
  } finally {
    api.disconnect();
  }
});

test('the console`s trimmed-review paths as the API user: entries trimmed before and after the console group read them are counted (review-unlisted-2), acknowledged (review-ack-trimmed-2) and forgotten, nothing refused', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  const configFile = writeConfig(pipeline);
  const { apiUrl, user } = await applyApiUser(configFile, server.url, pipeline);
  const config = rulesOnlyConfig(server.url, pipeline);
  let served: ServedApi | undefined;
  try {
    served = await serveAsApiUser(
      config,
      apiUrl,
      TOKEN,
      createLogger({ component: 'api' }, 'error', () => undefined),
    );
    const { call } = served;
    // Three items listed (delivered to the console's group, recorded as their products' open items), two more never listed; then all trimmed.
    const listed = [await addReviewItem(keys, 't1'), await addReviewItem(keys, 't2'), await addReviewItem(keys, 't3')];
    assert.equal(
      (await call('/console/api/review')).items.map((i: { id: string }) => i.id),
      listed,
    );
    assert.is(await admin.exists(keys.reviewOpen('t1')), 1, 'a listed item is its product`s open item');
    await addReviewItem(keys, 't4');
    await addReviewItem(keys, 't5');
    await admin.xtrim(keys.stream('review'), 'MAXLEN', 0);
    // The view counts the two never delivered once (review-unlisted-2: HINCRBY, XGROUP SETID ... ENTRIESREAD) and lists the three trimmed.
    const page = await call('/console/api/review');
    assert.equal([page.trimmed.count, page.trimmed.unlisted, page.trimmed.acknowledged], [3, 2, 0], JSON.stringify(page.trimmed));
    // Acknowledged (review-ack-trimmed-2: XRANGE, XACK, HINCRBY) and forgotten (HMGET of the listed index, HDEL of the open items).
    assert.equal((await call('/console/api/review/trimmed/ack', { all: true })).acknowledged.sort(), [...listed].sort());
    const after = await call('/console/api/review');
    assert.equal([after.trimmed.count, after.trimmed.unlisted, after.trimmed.acknowledged], [0, 2, 3], JSON.stringify(after.trimmed));
    assert.is(await admin.exists(keys.reviewOpen('t1'), keys.reviewOpen('t2'), keys.reviewOpen('t3')), 0, 'the acked items left their products` open items');
    assert.is(await admin.hlen(keys.reviewListed), 0);
    assert.is(((await admin.xpending(keys.stream('review'), 'console')) as [number])[0], 0, 'nothing pending in the console group');
    assert.equal(await refusals(user), [], 'Redis refused the API user nothing');
  } finally {
    await served?.close();
    rmSync(configFile, { force: true });
  }
});

test('sharded: the API user reads and writes each shard`s keys and the pipeline`s own {p}:*', () => {
  const config = rulesOnlyConfig('redis://127.0.0.1:6379', 'sh');
  const sharded = { ...config, shards: 2 };
  const u = aclUsers(sharded, { dataAccess: stageDataAccess, password: () => 'pw' }).find((x) => x.role === 'api')!;
  assert.is(u.env, 'PIPELINE_API_REDIS_URL', 'where `pipeline serve` and `up --serve` take the API user from');
  for (const tag of ['{sh:0}', '{sh:1}', '{sh}']) {
    assert.ok(u.rules.includes(`%R~${tag}:*`), `reads ${tag}:*`);
    assert.ok(
      u.rules.some((r) => r.startsWith('(') && r.includes(`%W~${tag}:status:*`)),
      `sets the statuses of ${tag}`,
    );
  }
});

test.after(async () => {
  admin.disconnect();
  await server.close();
});

test.run();
