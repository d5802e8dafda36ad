/**
 * The API under input a careless or hostile client sends, on one server with the console: each
 * mistake is a 4xx naming where and why (never a 500, never taken silently), and nothing of a
 * refused request is written.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rulesOnlyConfig } from '../helpers/pipeline.js';
import { client, randomPipeline, startRedis } from '../helpers/redis.js';
import { ADMIN, auth, startConsole } from '../helpers/console.js';
import { Keys } from '../../lib/redis/keys.js';

const server = await startRedis();
const redis = client(server.url);
const config = rulesOnlyConfig(server.url, randomPipeline('hostile'));
const keys = new Keys(config.pipeline);
const { app } = await startConsole(config);

test.after(async () => {
  await app.close();
  redis.disconnect();
  await server.close();
});

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

test.run();
