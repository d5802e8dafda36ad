import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { buildServer } from '../../lib/api/server.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import { readRedisProduct } from '../../stages/sinks/export.js';
import { resolveConfig } from '../../lib/config/load.js';
import { completionsOf } from '../../lib/stream/done.js';
import { FAST, rulesOnlyConfig, startWorkers, stopAll } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';
import { readyOrClosed } from '../helpers/api-server.js';

const { server, redis } = await redisForFile(test);
const TOKENS = [
  { token: 'submit-token-0123456789', roles: ['submit' as const] },
  { token: 'read-token-0123456789ab', roles: ['read' as const] },
  { token: 'admin-token-0123456789a', roles: ['admin' as const] },
];
const auth = (role: 'submit' | 'read' | 'admin') => ({ authorization: `Bearer ${TOKENS.find((t) => t.roles[0] === role)!.token}` });

async function api(pipeline: string, limits = {}, config = rulesOnlyConfig(server.url, pipeline)): Promise<FastifyInstance> {
  const keys = new Keys(pipeline);
  const productReader = (ctx: { redis: Redis }) => ({
    read: async (k: string) => (await readRedisProduct(ctx.redis, keys, k)) as Record<string, unknown> | null,
  });
  const app = await buildServer({ config, tokens: TOKENS, logger: silentLogger, limits: { completionsBlockMs: 100, ...limits }, productReader });
  return readyOrClosed(app, async () => {
    await app.ready();
    await waitFor('completions reader', () => app.pipeline.completions.following, 5_000);
  });
}

test('auth: no token 401, wrong role 403, admin may do everything; health and openapi need none', async () => {
  const app = await api(randomPipeline());
  try {
    const body = { id: 'a1', title: 'x' };
    assert.is((await app.inject({ method: 'POST', url: '/v1/products', payload: body })).statusCode, 401);
    // Before the body is read: no token and a broken body is 401, not 400 (nor 413 for a large one).
    const noToken = await app.inject({ method: 'POST', url: '/v1/products', payload: '{broken', headers: { 'content-type': 'application/json' } });
    assert.is(noToken.statusCode, 401, noToken.body);
    assert.is(
      (await app.inject({ method: 'POST', url: '/v1/products', payload: body, headers: { authorization: 'Bearer nope-nope-nope-nope' } })).statusCode,
      401,
    );
    assert.is((await app.inject({ method: 'POST', url: '/v1/products', payload: body, headers: auth('read') })).statusCode, 403);
    assert.is((await app.inject({ method: 'GET', url: '/v1/products/a1', headers: auth('submit') })).statusCode, 403);
    assert.is((await app.inject({ method: 'POST', url: '/v1/products', payload: body, headers: auth('submit') })).statusCode, 202);
    assert.is((await app.inject({ method: 'GET', url: '/v1/products/a1', headers: auth('read') })).statusCode, 200);
    assert.is((await app.inject({ method: 'GET', url: '/v1/products/a1', headers: auth('admin') })).statusCode, 200);
    assert.is((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    assert.is((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
    assert.ok(doc.paths['/v1/products/{id}'].get, 'routes are in the document');
    // What the guard answers is documented on every guarded route; health needs no token.
    assert.ok(doc.paths['/v1/products'].post.responses['401'] && doc.paths['/v1/events'].get.responses['403'], 'auth answers documented');
    assert.equal(doc.paths['/healthz'].get.security, [], 'health needs no token');
    assert.is(doc.paths['/healthz'].get.responses['401'], undefined);
    assert.is(doc.paths['/v1/products'].post.security, undefined, "guarded routes keep the document's bearer default");
    assert.ok(doc.paths['/v1/enrich'].post.parameters.some((p: { name: string }) => p.name === 'timeout_ms'));
  } finally {
    await app.close();
  }
});

test('ids: one of 150 characters is readable once accepted (Fastify had answered 414 past 100); a JSON integer is its decimal string; a lone surrogate or U+FFFD is rejected, not merged into one product', async () => {
  const app = await api(randomPipeline());
  try {
    const long = 'b'.repeat(150) + 'é'.repeat(100);
    const h = { ...auth('admin'), 'content-type': 'application/json' };
    assert.is((await app.inject({ method: 'POST', url: '/v1/products', payload: { id: long, title: 'x' }, headers: h })).statusCode, 202);
    const got = await app.inject({ method: 'GET', url: `/v1/products/${encodeURIComponent(long)}`, headers: h });
    assert.is(got.statusCode, 200, got.body);
    assert.is(got.json().id, long);
    const proto = await app.inject({
      method: 'POST',
      url: '/v1/products',
      payload: '{"id":"p1","title":"x","__proto__":{"a":1}}\n',
      headers: { ...h, 'content-type': 'application/x-ndjson' },
    });
    assert.is(proto.statusCode, 400, proto.body);
    assert.match(proto.json().rejected[0].error, /field "__proto__": a reserved name/);
    const events = await app.inject({ method: 'GET', url: '/v1/events?last_event_id=99999999999999999999999-0', headers: h });
    assert.is(events.statusCode, 400, 'an event id past 2^64 is refused before the stream starts');
    // A JSON integer id is its decimal string (documented); one that would not convert exactly is refused.
    const numeric = await app.inject({ method: 'POST', url: '/v1/products', payload: { id: 5, title: 'x' }, headers: h });
    assert.equal([numeric.statusCode, numeric.json().accepted], [202, ['5']]);
    assert.is((await app.inject({ method: 'GET', url: '/v1/products/5', headers: h })).json().status, 'queued');
    for (const id of ['1.5', '1e30', '9007199254740993']) {
      const r = await app.inject({ method: 'POST', url: '/v1/products', payload: `{"id":${id},"title":"x"}`, headers: h });
      assert.is(r.statusCode, 400, id);
      // It says why a number is refused (it had said "expected a non-empty string").
      assert.match(
        r.json().rejected[0].error,
        /^field "id": a number is taken only as an integer of at most 2\^53 - 1 \(read as [^)]+\): send it as a string$/,
      );
    }
    for (const id of ['a\ud800', '\udfffb', 'c\ufffd']) {
      const r = await app.inject({ method: 'POST', url: '/v1/products', payload: JSON.stringify([{ id, title: 'x' }]), headers: h });
      assert.is(r.statusCode, 400, JSON.stringify(id));
      assert.match(r.json().rejected[0].error, /field "id": not well-formed text/);
    }
  } finally {
    await app.close();
  }
});

test('errors name what is wrong: an unknown query parameter by name, an unread content type with the ones read; a bad record is 400 even during a backlog', async () => {
  const pipeline = randomPipeline();
  const config = rulesOnlyConfig(server.url, pipeline);
  for (const st of config.stages) st.maxLag = 1;
  const app = await api(pipeline, { backpressureCacheMs: 0 }, config);
  try {
    const h = auth('admin');
    const extra = await app.inject({ method: 'GET', url: '/v1/products/x?foo=1', headers: h });
    assert.is(extra.statusCode, 400);
    assert.match(extra.json().message, /additional properties: foo/);
    const text = await app.inject({ method: 'POST', url: '/v1/products', payload: 'id,title', headers: { ...h, 'content-type': 'text/csv' } });
    assert.is(text.statusCode, 415);
    assert.is(text.json().error, 'unsupported_media_type');
    assert.match(text.json().message, /application\/json, application\/x-ndjson/);
    for (let i = 0; i < 3; i++) await redis.xadd(new Keys(pipeline).stream('in'), '*', 'k', `q${i}`, 'e', 'x'); // lag 3 > maxLag 1
    const json = { ...h, 'content-type': 'application/json' };
    assert.is((await app.inject({ method: 'POST', url: '/v1/products', payload: { id: 'v1', title: 'ok' }, headers: json })).statusCode, 429);
    const bad = await app.inject({ method: 'POST', url: '/v1/products', payload: { id: 'v2' }, headers: json });
    assert.is(bad.statusCode, 400, 'not a 429 the client would retry unchanged');
    assert.match(bad.json().rejected[0].error, /field "title"/);
  } finally {
    await app.close();
  }
});

test('an unknown route is a 404 in the API error shape; HEAD of the event stream answers its headers and ends (it had never ended)', async () => {
  const app = await api(randomPipeline());
  try {
    const h = auth('admin');
    const nope = await app.inject({ method: 'GET', url: '/v1/nope?x=1', headers: h });
    assert.is(nope.statusCode, 404);
    assert.equal(nope.json(), { error: 'not_found', message: 'no route GET /v1/nope' });
    assert.ok(nope.headers['x-request-id'], 'with the request id');
    const head = await Promise.race([
      app.inject({ method: 'HEAD', url: '/v1/events', headers: h }),
      new Promise<null>((resolve) => setTimeout(() => resolve(null), 3_000)),
    ]);
    assert.ok(head, 'HEAD /v1/events answered within 3 s');
    assert.is(head.statusCode, 200);
    assert.match(String(head.headers['content-type']), /^text\/event-stream/);
    assert.is((await app.inject({ method: 'HEAD', url: '/v1/events' })).statusCode, 401, 'still guarded');
  } finally {
    await app.close();
  }
});

test('malformed bodies: 400 naming the field, invalid JSON 400, NDJSON with bad lines 202 + rejected, oversized 413', async () => {
  const app = await api(randomPipeline(), { bodyLimitBytes: 4096, maxRecordsPerRequest: 5 });
  try {
    const h = { ...auth('submit'), 'content-type': 'application/json' };
    const r1 = await app.inject({ method: 'POST', url: '/v1/products', payload: { id: 'x' }, headers: h });
    assert.is(r1.statusCode, 400);
    assert.match(r1.body, /field \\"title\\"/);
    const r2 = await app.inject({ method: 'POST', url: '/v1/products', payload: '{"id": "x", ', headers: h });
    assert.is(r2.statusCode, 400);
    const nd = ['{"id":"n1","title":"ok"}', '{bad json', '{"id":"n3","title":5}', ''].join('\n');
    const r3 = await app.inject({ method: 'POST', url: '/v1/products', payload: nd, headers: { ...auth('submit'), 'content-type': 'application/x-ndjson' } });
    assert.is(r3.statusCode, 202);
    const j = r3.json();
    assert.equal(j.accepted, ['n1']);
    assert.equal(
      j.rejected.map((r: { index: number; reason: string }) => [r.index, r.reason]),
      [
        [1, 'invalid_json'],
        [2, 'invalid_record'],
      ],
    );
    assert.match(j.rejected[1].error, /field "title"/);
    const big = await app.inject({ method: 'POST', url: '/v1/products', payload: JSON.stringify({ id: 'b', title: 'x'.repeat(5000) }), headers: h });
    assert.is(big.statusCode, 413);
    // Each 413 names the limit and its setting (Fastify's own text had said "Request body is too large").
    assert.equal(big.json(), { error: 'too_large', message: 'the request body is over api.bodyLimitBytes (4096 bytes): send the records in several requests' });
    const many = await app.inject({
      method: 'POST',
      url: '/v1/products',
      payload: Array.from({ length: 6 }, (_, i) => ({ id: `m${i}`, title: 't' })),
      headers: h,
    });
    assert.is(many.statusCode, 413);
    assert.match(many.json().message, /^more than api\.maxRecordsPerRequest \(5\) records in one request/);
    const form = await app.inject({
      method: 'POST',
      url: '/v1/products',
      payload: '{"id":"c1","title":"curl -d sends a form type"}',
      headers: { ...auth('submit'), 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal([form.statusCode, form.json().accepted], [202, ['c1']], 'curl -d without a content type');
    const notJson = await app.inject({
      method: 'POST',
      url: '/v1/products',
      payload: 'id=c2&title=x',
      headers: { ...auth('submit'), 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.is(notJson.statusCode, 400);
    assert.match(notJson.json().message, /not JSON/);
    const q = await app.inject({ method: 'POST', url: '/v1/enrich?timeout_ms=abc', payload: { id: 'e', title: 't' }, headers: h });
    assert.is(q.statusCode, 400, q.body);
    assert.match(q.body, /timeout_ms/, q.body);
  } finally {
    await app.close();
  }
});

test('404 for an id never seen, queued before any worker runs, stored (with the product) after', async () => {
  const pipeline = randomPipeline();
  const config = rulesOnlyConfig(server.url, pipeline);
  const app = await api(pipeline, {}, config);
  try {
    const nobody = await app.inject({ method: 'GET', url: '/v1/products/nobody', headers: auth('read') });
    assert.is(nobody.statusCode, 404);
    // It had said "was ever submitted", untrue of a record `pipeline produce` put in that has not ended yet.
    assert.match(nobody.json<{ message: string }>().message, /"nobody": never submitted, not at an end yet if it came by `pipeline produce`/);
    const r = await app.inject({
      method: 'POST',
      url: '/v1/products',
      payload: { id: 'q1', title: 'SanDisk Ultra 64GB USB 3.0 Flash Drive SDCZ48-064G-A46' },
      headers: auth('submit'),
    });
    assert.is(r.statusCode, 202);
    const queued = (await app.inject({ method: 'GET', url: '/v1/products/q1', headers: auth('read') })).json();
    assert.is(queued.status, 'queued', JSON.stringify(queued));
    assert.is(queued.stage, config.stages[0]!.name, JSON.stringify(queued));
    const workers = startWorkers(config);
    try {
      const done = await app.inject({ method: 'GET', url: '/v1/products/q1?wait_ms=15000', headers: auth('read') });
      const j = done.json();
      assert.is(j.status, 'stored');
      assert.is(j.product.key, 'q1');
      assert.ok(j.product.doc.outputs, 'the product as export writes it');
    } finally {
      await stopAll(workers);
    }
  } finally {
    await app.close();
  }
});

test("review and dead-lettered ids end with their final status (GET, wait_ms, enrich), from the consumer's completion helper", async () => {
  const pipeline = randomPipeline();
  const base = rulesOnlyConfig(server.url, pipeline);
  const config = resolveConfig(
    {
      pipeline,
      defaults: FAST,
      stages: [
        { name: 'preprocess', kind: 'preprocess', input: 'in' },
        { name: 'store', kind: 'store', settings: { sink: 'redis' } },
      ],
      // "to review" goes to the review stream; "nowhere" matches no rule: dead-lettered (no_route).
      routes: {
        preprocess: [
          { when: { title: 'to review' }, to: 'review' },
          { when: { title: { ne: 'nowhere' } }, to: 'store' },
        ],
      },
    },
    'test',
    { env: { REDIS_URL: base.redis.url } },
  );
  const app = await api(pipeline, {}, config);
  const workers = startWorkers(config);
  try {
    const review = await app.inject({
      method: 'POST',
      url: '/v1/enrich?timeout_ms=15000',
      payload: { id: 'rv1', title: 'to review' },
      headers: auth('submit'),
    });
    assert.equal([review.statusCode, review.json().status, review.json().stage, review.json().reason], [200, 'review', 'preprocess', 'review']);
    await app.inject({ method: 'POST', url: '/v1/products', payload: { id: 'dl1', title: 'nowhere' }, headers: auth('submit') });
    const dead = (await app.inject({ method: 'GET', url: '/v1/products/dl1?wait_ms=15000', headers: auth('read') })).json();
    assert.equal([dead.status, dead.reason, dead.stage], ['dead_lettered', 'no_route', 'preprocess']);
    assert.match(dead.error, /matched no routing rule/);
    const again = (await app.inject({ method: 'GET', url: '/v1/products/dl1', headers: auth('read') })).json();
    assert.is(again.status, 'dead_lettered', 'kept in the status hash');
    const stored = (await app.inject({ method: 'POST', url: '/v1/enrich', payload: { id: 'ok1', title: 'fine' }, headers: auth('submit') })).json();
    assert.equal([stored.status, stored.product.key], ['stored', 'ok1']);
    const events = await redis.xrange(new Keys(pipeline).done, '-', '+');
    assert.equal(events.map(([, f]) => `${f[1]}:${f[3]}`).sort(), ['dl1:dead_lettered', 'ok1:stored', 'rv1:review']);
  } finally {
    await stopAll(workers);
    await app.close();
  }
});

test('completionsOf: DLQ forwards are dead_lettered with the reason, forwards to terminal streams only are review, others (and review fan-outs that go on to a stage) nothing (pure)', () => {
  const dlq = '{p}:dlq';
  const terminal = new Map([['{p}:review', 'review']]);
  const got = completionsOf(
    [
      { id: '1-0', targets: ['{p}:store'], fields: ['k', 'a', 'e', Buffer.from('x')] },
      { id: '2-0', targets: ['{p}:review'], fields: ['k', 'b', 'e', Buffer.from('x')] },
      { id: '3-0', targets: [dlq], fields: ['k', 'c', 'e', Buffer.from('x'), 'stage', 's', 'reason', 'max_deliveries', 'error', 'boom'] },
      { id: '4-0', targets: [], fields: [] },
      { id: '5-0', targets: ['{p}:review', '{p}:extract'], fields: ['k', 'd', 'e', Buffer.from('x')] },
    ],
    's',
    dlq,
    terminal,
  );
  assert.equal(got, [
    { key: 'b', status: 'review', stage: 's', reason: 'review' },
    { key: 'c', status: 'dead_lettered', stage: 's', reason: 'max_deliveries', error: 'boom' },
  ]);
});

test.run();
