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

test.run();
