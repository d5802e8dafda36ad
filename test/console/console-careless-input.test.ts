/**
 * The console's own routes under careless input, as the /v1 routes are (test/api/api-hostile-input.test.ts):
 * a dead-letter selection named two ways, a stage or a reason naming none, a query parameter a route would
 * ignore, a body type the route does not read: each a 4xx naming it, and nothing acted on.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEAD_LETTER_REASONS } from '../../lib/stream/deadletter.js';
import { addDeadLetter, ADMIN, auth, consoleForFile } from '../helpers/console.js';

const { redis, config, keys, app } = await consoleForFile(test, 'careless');
const stages = config.stages.map((s) => s.name);

const json = { ...auth(ADMIN), 'content-type': 'application/json' };
const post = (url: string, body: unknown) => app.inject({ method: 'POST', url, headers: json, payload: JSON.stringify(body) });

test('a dead-letter selection with ids and all (or reason, stage, until) is a 400 naming both ways; nothing replayed or purged', async () => {
  const a = await addDeadLetter(redis, keys, { id: 'both-1', title: 'Koss EQ50 3-Band Stereo Equalizer' });
  await addDeadLetter(redis, keys, { id: 'both-2', title: 'Koss EQ50 3-Band Stereo Equalizer' });
  const before = await redis.xlen(keys.dlq);
  for (const kind of ['replay', 'purge'])
    for (const [extra, named] of [
      [{ all: true }, 'all'],
      [{ stage: stages[0], reason: 'max_deliveries' }, 'reason, stage'],
      [{ all: true, until: a }, 'all, until'],
    ] as const) {
      const r = await post(`/console/api/dlq/${kind}`, { ids: [a], ...extra });
      assert.is(r.statusCode, 400, `${kind} ${named}: ${r.body}`);
      assert.equal(r.json(), {
        error: 'bad_request',
        message: `body: ids names the dead letters, and so does ${named}: send ids alone, or reason and/or stage or all (with until) without ids`,
        field: 'ids',
      });
    }
  assert.is(await redis.xlen(keys.dlq), before, 'no dead letter replayed or purged');
  const ack = await post('/console/api/review/trimmed/ack', { ids: [a], all: true });
  assert.is(ack.statusCode, 400, ack.body);
  assert.equal(ack.json(), { error: 'bad_request', message: 'body: send ids alone, or all: true (with until) without ids', field: 'ids' });
  // Each way alone is taken.
  const alone = await post('/console/api/dlq/purge', { ids: [a] });
  assert.equal(alone.json(), { purged: 1 });
  await redis.del(keys.dlq);
});

test('a stage naming no stage (a typo) is a 404 naming it and the stages, on replay, purge and the list; a stage renamed since, still in the DLQ, is acted on', async () => {
  await addDeadLetter(redis, keys, { id: 'typo-1', title: 'Koss EQ50 3-Band Stereo Equalizer' }, stages[0]);
  const typo = `${stages[0]}x`;
  const notFound = { error: 'not_found', message: `no stage "${typo}" in this pipeline (stages: ${stages.join(', ')})`, field: 'stage' };
  for (const [what, r] of [
    ['replay', await post('/console/api/dlq/replay', { stage: typo })],
    ['purge', await post('/console/api/dlq/purge', { stage: typo, reason: 'max_deliveries' })],
    ['list', await app.inject({ method: 'GET', url: `/console/api/dlq?stage=${typo}`, headers: auth(ADMIN) })],
  ] as const) {
    assert.is(r.statusCode, 404, `${what}: ${r.body}`);
    assert.equal(r.json(), notFound, what);
  }
  // A long one is repeated cut, as the API repeats a client's text (lib/api/echo.ts).
  const long = await post('/console/api/dlq/purge', { stage: 's'.repeat(300) });
  assert.is(long.statusCode, 404, long.body);
  assert.ok(long.json().message.startsWith(`no stage "${'s'.repeat(200)}... (100 more characters)"`), long.json().message);
  assert.is(await redis.xlen(keys.dlq), 1, 'nothing replayed or purged');
  // A stage of the config with no dead letters matches nothing, and says so as before.
  const none = await post('/console/api/dlq/replay', { stage: stages.at(-1) });
  assert.is(none.statusCode, 200, none.body);
  assert.equal(none.json(), { replayed: [], skipped: [] });
  // Dead letters of a stage the config no longer has (renamed): listed and purged by that name.
  await addDeadLetter(redis, keys, { id: 'old-1', title: 'Koss EQ50 3-Band Stereo Equalizer' }, 'retired-stage');
  const listed = await app.inject({ method: 'GET', url: '/console/api/dlq?stage=retired-stage', headers: auth(ADMIN) });
  assert.is(listed.statusCode, 200, listed.body);
  assert.equal(
    listed.json().entries.map((e: { key: string }) => e.key),
    ['old-1'],
  );
  assert.equal((await post('/console/api/dlq/purge', { stage: 'retired-stage' })).json(), { purged: 1 });
  await redis.del(keys.dlq);
});

test('a reason that is no dead-letter reason (a typo) is a 400 naming it and the reasons, on replay, purge and the list; nothing acted on', async () => {
  await addDeadLetter(redis, keys, { id: 'reason-1', title: 'Koss EQ50 3-Band Stereo Equalizer' });
  const typo = 'max_delivery';
  const bad = {
    error: 'bad_request',
    message: `no dead-letter reason "${typo}" (reasons: ${DEAD_LETTER_REASONS.join(', ')})`,
    field: 'reason',
  };
  for (const [what, r] of [
    ['replay', await post('/console/api/dlq/replay', { reason: typo })],
    ['purge', await post('/console/api/dlq/purge', { reason: typo, stage: stages[0] })],
    ['list', await app.inject({ method: 'GET', url: `/console/api/dlq?reason=${typo}`, headers: auth(ADMIN) })],
  ] as const) {
    assert.is(r.statusCode, 400, `${what}: ${r.body}`);
    assert.equal(r.json(), bad, what);
  }
  assert.is(await redis.xlen(keys.dlq), 1, 'nothing replayed or purged');
  // Every reason a dead letter can have is taken.
  for (const reason of DEAD_LETTER_REASONS) {
    const r = await app.inject({ method: 'GET', url: `/console/api/dlq?reason=${reason}`, headers: auth(ADMIN) });
    assert.is(r.statusCode, 200, `${reason}: ${r.body}`);
  }
  await redis.del(keys.dlq);
});

test('a query parameter a console route would ignore is a 400 naming it; those it reads are taken', async () => {
  const cases = [
    ['GET', '/console/api/me?token=x', undefined, 'token'],
    ['GET', '/console/api/graph?stage=a', undefined, 'stage'],
    ['GET', '/console/api/stats?minutes=5', undefined, 'minutes'],
    ['GET', '/console/api/history?minutes=5&stage=a', undefined, 'stage'],
    ['GET', '/console/api/events?since=1', undefined, 'since'],
    ['GET', '/console/api/dlq?count=5&limit=5', undefined, 'limit'],
    ['GET', '/console/api/dlq/1-0?shard=0&full=1', undefined, 'full'],
    ['GET', '/console/api/review?cursor=1-0', undefined, 'cursor'],
    ['GET', '/console/api/products?confidence=0.5', undefined, 'confidence'],
    ['GET', '/console/api/products/p1?wait_ms=10', undefined, 'wait_ms'],
    ['GET', '/console/api/workers?stage=a', undefined, 'stage'],
    ['GET', '/console/api/pipelines?all=1', undefined, 'all'],
    ['GET', '/console/api/audit?count=5', undefined, 'count'],
    ['POST', '/console/api/dlq/replay?all=true', { ids: ['1-0'] }, 'all'],
    ['POST', '/console/api/dlq/purge?stage=a', { ids: ['1-0'] }, 'stage'],
    ['POST', '/console/api/review/1-0?category=a', { category: 'a' }, 'category'],
    ['POST', '/console/api/review/trimmed/ack?all=true', { ids: ['1-0'] }, 'all'],
  ] as const;
  for (const [method, url, body, name] of cases) {
    const r = await app.inject({ method, url, headers: json, ...(body === undefined ? {} : { payload: JSON.stringify(body) }) });
    assert.is(r.statusCode, 400, `${method} ${url}: ${r.body}`);
    assert.equal(r.json(), { error: 'bad_request', message: `querystring must NOT have additional properties: ${name}` }, `${method} ${url}`);
  }
  for (const url of [
    '/console/api/history?chart=true&minutes=5',
    '/console/api/dlq?count=5&reason=no_route',
    '/console/api/products?limit=5&minConfidence=0.5',
  ]) {
    const r = await app.inject({ method: 'GET', url, headers: auth(ADMIN) });
    assert.is(r.statusCode, 200, `${url}: ${r.body}`);
  }
});

test('a body type no parser reads is a 415 listing the types that route reads (NDJSON only where read)', async () => {
  const text = { ...auth(ADMIN), 'content-type': 'text/plain' };
  const form = 'application/x-www-form-urlencoded (JSON, as curl -d sends it)';
  for (const [url, route, types] of [
    ['/console/api/dlq/purge', 'POST /console/api/dlq/purge', ['application/json', form]],
    ['/console/api/review/trimmed/ack', 'POST /console/api/review/trimmed/ack', ['application/json', form]],
    ['/v1/stages/store/pause', 'POST /v1/stages/:stage/pause', ['application/json', form]],
    ['/v1/products', 'POST /v1/products', ['application/json', 'application/x-ndjson', form]],
  ] as const) {
    const r = await app.inject({ method: 'POST', url, headers: text, payload: '{}' });
    assert.is(r.statusCode, 415, `${url}: ${r.body}`);
    assert.equal(r.json(), { error: 'unsupported_media_type', message: `${route} does not read text/plain: send ${types.join(', ')}` }, url);
  }
});

test('an entry id past 2^64 (where an id, ids, after or until is read) is a 400 naming the field and the id, not Redis error text; nothing acted on', async () => {
  await addDeadLetter(redis, keys, { id: 'huge-1', title: 'Koss EQ50 3-Band Stereo Equalizer' });
  const huge = '18446744073709551616-0'; // 2^64: Redis refuses it ("ERR Invalid stream ID ...", with its script's name)
  const said = (field: string, ref = huge) => ({
    error: 'bad_request',
    message: `${field} ${JSON.stringify(ref)}: each part of a stream id is below 2^64`,
    field,
  });
  for (const [what, r, field] of [
    ['dead letter', await app.inject({ method: 'GET', url: `/console/api/dlq/${huge}`, headers: auth(ADMIN) }), 'id'],
    ['dlq page', await app.inject({ method: 'GET', url: `/console/api/dlq?after=${huge}`, headers: auth(ADMIN) }), 'after'],
    ['review page', await app.inject({ method: 'GET', url: `/console/api/review?after=${huge}`, headers: auth(ADMIN) }), 'after'],
    ['replay', await post('/console/api/dlq/replay', { ids: [huge] }), 'ids'],
    ['purge', await post('/console/api/dlq/purge', { all: true, until: huge }), 'until'],
    ['decide', await post(`/console/api/review/${huge}`, { category: 'audio' }), 'id'],
    ['trimmed ack', await post('/console/api/review/trimmed/ack', { ids: [huge] }), 'ids'],
    ['trimmed ack all', await post('/console/api/review/trimmed/ack', { all: true, until: huge }), 'until'],
  ] as const) {
    assert.is(r.statusCode, 400, `${what}: ${r.body}`);
    assert.equal(r.json(), said(field), what);
  }
  // The sequence part too; 2^64 - 1 is an id (nothing found, nothing refused).
  assert.equal((await post('/console/api/dlq/purge', { ids: ['1-18446744073709551616'] })).json(), said('ids', '1-18446744073709551616'));
  assert.equal((await post('/console/api/dlq/purge', { ids: ['18446744073709551615-0'] })).json(), { purged: 0 });
  assert.is(await redis.xlen(keys.dlq), 1, 'nothing replayed or purged');
  await redis.del(keys.dlq);
});

test.run();
