/**
 * The API under input a careless or hostile client sends, on one server with the console: each
 * mistake is a 4xx naming where and why (never a 500, never taken silently), and nothing of a
 * refused request is written.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ADMIN, auth, consoleForFile } from '../helpers/console.js';
import { gzipSync } from 'node:zlib';

const { redis, config, keys, app } = await consoleForFile(test, 'hostile');

const json = { ...auth(ADMIN), 'content-type': 'application/json' };

test('a query number that is not finite (1e309, -1e309, Infinity) is a 400 naming the parameter, on every route reading one; nothing taken', async () => {
  const cases = [
    ['GET', '/v1/products/p1?wait_ms=1e309', 'querystring/wait_ms'],
    ['GET', '/v1/products/p1?wait_ms=-1e309', 'querystring/wait_ms'],
    ['POST', '/v1/enrich?timeout_ms=-1e309', 'querystring/timeout_ms'],
    ['POST', '/v1/enrich?timeout_ms=Infinity', 'querystring/timeout_ms'],
    ['GET', '/console/api/history?minutes=1e309', 'querystring/minutes'],
    ['GET', '/console/api/history?minutes=-1e309', 'querystring/minutes'],
    ['GET', '/console/api/dlq?count=1e309', 'querystring/count'],
    ['GET', '/console/api/review?count=1e309', 'querystring/count'],
    ['GET', '/console/api/products?limit=1e309', 'querystring/limit'],
  ] as const;
  for (const [method, url, field] of cases) {
    const r = await app.inject({ method, url, headers: json, ...(method === 'POST' ? { payload: JSON.stringify({ id: 'inf-1', title: 'a title' }) } : {}) });
    assert.is(r.statusCode, 400, `${method} ${url}: ${r.body}`);
    assert.equal(r.json(), { error: 'bad_request', message: `${field} must be a finite number` }, `${method} ${url}`);
  }
  assert.is(await redis.exists(keys.status('inf-1')), 0, 'the refused enrich wrote nothing');
  assert.is(await redis.exists(keys.stream(config.input)), 0, 'nor an entry');
  // A finite number in the same notation is read as before.
  const ok = await app.inject({ method: 'GET', url: '/console/api/history?minutes=1e1', headers: json });
  assert.is(ok.statusCode, 200, ok.body);
});

test('a method a route does not take is a 405 naming the ones it does (Allow), OPTIONS a 204 with Allow; an unknown path stays a 404; each counted', async () => {
  const cases = [
    ['GET', '/v1/products', 'POST'],
    ['PUT', '/v1/products', 'POST'],
    ['DELETE', '/v1/products/p1', 'GET, HEAD'],
    ['GET', '/v1/enrich', 'POST'],
    ['HEAD', '/v1/stages/store/pause', 'POST'],
    ['POST', '/v1/stages', 'GET, HEAD'],
    ['PATCH', '/v1/data-loss/ack', 'POST'],
    ['POST', '/healthz', 'GET, HEAD'],
    ['DELETE', '/console/api/dlq/1-0', 'GET, HEAD'],
  ] as const;
  for (const [method, url, allowed] of cases) {
    const r = await app.inject({ method, url, headers: auth(ADMIN) });
    assert.is(r.statusCode, 405, `${method} ${url}: ${r.body}`);
    assert.is(r.headers.allow, `${allowed}, OPTIONS`, `${method} ${url}`);
    if (method !== 'HEAD')
      assert.equal(r.json(), { error: 'method_not_allowed', message: `${url} does not take ${method}: it takes ${allowed}` }, `${method} ${url}`);
  }
  const options = await app.inject({ method: 'OPTIONS', url: '/v1/products/some-id' });
  assert.is(options.statusCode, 204, options.body);
  assert.is(options.headers.allow, 'GET, HEAD, OPTIONS');
  for (const [method, url] of [
    ['PUT', '/v1/nope'],
    ['OPTIONS', '/v1/nope'],
    ['PUT', '/console/api/nope'],
  ] as const) {
    const r = await app.inject({ method, url, headers: auth(ADMIN) });
    assert.is(r.statusCode, 404, `${method} ${url}: ${r.body}`);
    assert.equal(r.json(), { error: 'not_found', message: `no route ${method} ${url}` });
  }
  const metrics = await app.inject({ method: 'GET', url: '/metrics', headers: auth(ADMIN) });
  assert.match(metrics.body, /pipeline_api_requests_total\{route="unmatched",method="PUT",status="405"[^}]*\} 1/);
});

test('a query parameter or body field a route would ignore is a 400 naming it; an NDJSON body to a route taking one JSON object a 415 naming the route', async () => {
  const cases = [
    ['POST', '/v1/products?wait_ms=100', { id: 'q-1', title: 'a title' }, 'querystring must NOT have additional properties: wait_ms'],
    ['GET', '/v1/stages?stage=store', undefined, 'querystring must NOT have additional properties: stage'],
    ['POST', '/v1/stages/store/pause?reason=x', {}, 'querystring must NOT have additional properties: reason'],
    ['POST', '/v1/stages/store/resume', { reason: 'done' }, 'body must NOT have additional properties: reason'],
    ['POST', '/v1/stages/store/resume', [1], 'body must be object,null'],
    ['GET', '/v1/data-loss?all=1', undefined, 'querystring must NOT have additional properties: all'],
    ['POST', '/v1/data-loss/ack', { tag: '{x}' }, 'body must NOT have additional properties: tag'],
  ] as const;
  for (const [method, url, body, message] of cases) {
    const r = await app.inject({ method, url, headers: json, ...(body === undefined ? {} : { payload: JSON.stringify(body) }) });
    assert.is(r.statusCode, 400, `${method} ${url}: ${r.body}`);
    assert.equal(r.json(), { error: 'bad_request', message }, `${method} ${url}`);
  }
  assert.is(await redis.exists(keys.status('q-1')), 0, 'the refused submit wrote nothing');
  // Without a body, or an empty object, as the console and scripts send them: taken.
  assert.is((await app.inject({ method: 'POST', url: '/v1/stages/store/resume', headers: auth(ADMIN) })).statusCode, 200);
  assert.is((await app.inject({ method: 'POST', url: '/v1/data-loss/ack', headers: json, payload: '{}' })).statusCode, 200);

  const ndjson = { ...auth(ADMIN), 'content-type': 'application/x-ndjson' };
  for (const [url, route] of [
    ['/v1/stages/store/pause', 'POST /v1/stages/:stage/pause'],
    ['/v1/data-loss/ack', 'POST /v1/data-loss/ack'],
    ['/console/api/dlq/purge', 'POST /console/api/dlq/purge'],
  ] as const) {
    const r = await app.inject({ method: 'POST', url, headers: ndjson, payload: '{"reason":"x"}\n' });
    assert.is(r.statusCode, 415, `${url}: ${r.body}`);
    assert.equal(r.json(), { error: 'unsupported_media_type', message: `${route} does not read application/x-ndjson: send its body as application/json` });
  }
  // The console's routes read bodies as the API's do: a text/plain body is a 415, a body not UTF-8 a 400 naming the byte.
  const text = await app.inject({ method: 'POST', url: '/console/api/dlq/purge', headers: { ...auth(ADMIN), 'content-type': 'text/plain' }, payload: '{}' });
  assert.is(text.statusCode, 415, text.body);
  assert.is(text.json().error, 'unsupported_media_type');
  const latin1 = Buffer.from('{"stage":"caf\xe9"}', 'latin1');
  const notUtf8 = await app.inject({ method: 'POST', url: '/console/api/dlq/purge', headers: json, payload: latin1 });
  assert.is(notUtf8.statusCode, 400, notUtf8.body);
  assert.equal(notUtf8.json(), { error: 'bad_request', message: 'body is not UTF-8: byte 13 starts a sequence that is not (send the text as UTF-8)' });
  const form = await app.inject({
    method: 'POST',
    url: '/console/api/dlq/purge',
    headers: { ...auth(ADMIN), 'content-type': 'application/x-www-form-urlencoded' },
    payload: 'a=1',
  });
  assert.is(form.statusCode, 400, `read as JSON, as the API reads a form-labelled body: ${form.body}`);
  assert.match(form.json().message, /^body is not JSON: .*\(send Content-Type: application\/json\)$/);
  const paused = await app.inject({ method: 'GET', url: '/v1/stages', headers: auth(ADMIN) });
  assert.ok(
    (paused.json() as { stages: { paused: unknown }[] }).stages.every((s) => s.paused === null),
    'no stage paused by the refused requests',
  );
});

test('a compressed body is a 415 naming its Content-Encoding (it had been "not UTF-8: byte 1"), a submission without any body a 400 saying so; nothing taken', async () => {
  for (const [type, text] of [
    ['application/json', '{"id":"gz-1","title":"a title"}'],
    ['application/x-ndjson', '{"id":"gz-1","title":"a title"}\n'],
  ] as const) {
    const r = await app.inject({
      method: 'POST',
      url: '/v1/products',
      headers: { ...auth(ADMIN), 'content-type': type, 'content-encoding': 'gzip' },
      payload: gzipSync(text),
    });
    assert.is(r.statusCode, 415, `${type}: ${r.body}`);
    assert.equal(r.json(), { error: 'unsupported_media_type', message: 'Content-Encoding gzip is not read: send the body uncompressed' });
  }
  const identity = await app.inject({
    method: 'POST',
    url: '/v1/products',
    headers: { ...json, 'content-encoding': 'identity' },
    payload: '{"id":"id-1","title":"a title"}',
  });
  assert.is(identity.statusCode, 202, identity.body);
  for (const url of ['/v1/products', '/v1/enrich']) {
    const r = await app.inject({ method: 'POST', url, headers: auth(ADMIN) });
    assert.is(r.statusCode, 400, `${url}: ${r.body}`);
    assert.equal(r.json(), { error: 'bad_request', message: 'body is empty: send a JSON record, an array of them, or NDJSON' }, url);
  }
  assert.is(await redis.exists(keys.status('gz-1')), 0, 'the compressed body wrote nothing');
  assert.is(await redis.xlen(keys.stream(config.input)), 1, 'only the identity-coded record is in');
});

test.run();
