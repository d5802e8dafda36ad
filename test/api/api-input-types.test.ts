/**
 * What the API takes as given: a product id no product can have (`..`, `.`, blank, not well-formed
 * text) is a 400 naming the path parameter and why on every route taking one in its path, as
 * submitting a record with it is (GET /v1/products/%2E%2E had been a 404 "never seen"); a JSON body is
 * not coerced (`{"reason": 5}` had been paused with the reason "5"), while a querystring still is.
 */
import { request } from 'node:http';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pausedStages } from '../../lib/ops/pause.js';
import { rulesOnlyConfig } from '../helpers/pipeline.js';
import { client, randomPipeline, startRedis } from '../helpers/redis.js';
import { ADMIN, auth, READ, startConsole } from '../helpers/console.js';

const server = await startRedis();
const redis = client(server.url);
const config = rulesOnlyConfig(server.url, randomPipeline('input-types'));
const { app, url } = await startConsole(config);

test.after(async () => {
  await app.close();
  redis.disconnect();
  await server.close();
});

/**
 * A GET with the path sent as written: URL parsers (fetch, app.inject's) resolve %2E%2E as `..`
 * and send /v1/ instead, as a browser would; curl --path-as-is and raw clients do not.
 */
function rawGet(path: string, headers: Record<string, string> = auth(READ)): Promise<{ status: number; body: Record<string, string> }> {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(url);
    const req = request({ hostname, port, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) as Record<string, string> }));
    });
    req.on('error', reject);
    req.end();
  });
}

const post = (url: string, body: unknown, token = ADMIN) =>
  app.inject({ method: 'POST', url, headers: { ...auth(token), 'content-type': 'application/json' }, payload: JSON.stringify(body) });

test('a product id that can never be valid is a 400 naming the path parameter and why, on each route with one in its path', async () => {
  const cases = [
    ['%2E%2E', '".." is not an id a URL path can carry'],
    ['%2E', '"." is not an id a URL path can carry'],
    ['%20%20', 'expected a non-empty string'],
    ['a%EF%BF%BD', 'not well-formed text'],
  ] as const;
  for (const route of ['/v1/products/', '/console/api/products/'])
    for (const [id, why] of cases) {
      const r = await rawGet(`${route}${id}`);
      assert.is(r.status, 400, `${route}${id}: ${JSON.stringify(r.body)}`);
      assert.is(r.body.error, 'bad_request');
      assert.ok(r.body.message!.startsWith(`path parameter "id": ${why}`), r.body.message);
    }
  // The same why as a record with that id gets when it is submitted.
  const submitted = await post('/v1/products', { id: '..', title: 'a thing' });
  assert.is(submitted.statusCode, 400, submitted.body);
  assert.match(JSON.stringify(submitted.json()), /field \\"id\\": \\"..\\" is not an id a URL path can carry/);
  // An id that may yet be submitted is still "never seen"; the token is checked first.
  assert.is((await rawGet('/v1/products/not-yet')).status, 404);
  assert.is((await rawGet('/v1/products/%2E%2E', {})).status, 401);
});

test('a JSON body is not coerced: a number for a string is a 400 naming the field and the type, nothing paused', async () => {
  const r = await post('/v1/stages/store/pause', { reason: 5 });
  assert.is(r.statusCode, 400, r.body);
  assert.match(r.json().message, /body\/reason must be string/);
  assert.equal([...(await pausedStages(redis, config)).keys()], [], 'nothing paused');
  // Nor a string for a boolean, nor a lone string for an array (the console's trimmed-review acknowledgement).
  const all = await post('/console/api/review/trimmed/ack', { all: 'true' });
  assert.is(all.statusCode, 400, all.body);
  assert.match(all.json().message, /body\/all must be boolean/);
  const ids = await post('/console/api/review/trimmed/ack', { ids: '1-0' });
  assert.is(ids.statusCode, 400, ids.body);
  assert.match(ids.json().message, /body\/ids must be array/);
  // A string reason is taken.
  const ok = await post('/v1/stages/store/pause', { reason: 'migration' });
  assert.is(ok.statusCode, 200, ok.body);
  assert.is((await post('/v1/stages/store/resume', {})).statusCode, 200);
});

test('a querystring is still coerced: ?wait_ms=5 is a number, ?wait_ms=x a 400 naming it', async () => {
  const r = await app.inject({ method: 'GET', url: '/v1/products/not-yet?wait_ms=5', headers: auth(READ) });
  assert.is(r.statusCode, 404, r.body);
  const bad = await app.inject({ method: 'GET', url: '/v1/products/not-yet?wait_ms=x', headers: auth(READ) });
  assert.is(bad.statusCode, 400, bad.body);
  assert.match(bad.json().message, /querystring\/wait_ms must be integer/);
});

test.run();
