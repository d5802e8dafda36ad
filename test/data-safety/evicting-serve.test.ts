/**
 * The API server on a Redis that evicts any key at maxmemory (`allkeys-*`), as the workers and
 * `produce` are: `pipeline serve` refuses to start with their config error; a policy set to
 * `allkeys-*` while it runs has submissions answered 503 `redis_evicts` naming the policy (nothing
 * written) and `/readyz` 503 saying why, until it is `noeviction` again. The server had taken
 * records into a Redis that could evict them without an error.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createLogger } from '../../lib/observe/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import { listeningApi } from '../helpers/api-server.js';
import { auth, READ, startConsole } from '../helpers/console.js';
import { cli, exitedWithin, FAST, rulesOnlyConfig, writeConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test, { settings: { 'maxmemory-policy': 'noeviction' } });
const TOKEN = 'evicting-serve-token-0123456789';
/** The policy is read again this often (the stages' dataLossCheckMs, which the server takes too). */
const TIMERS = { ...FAST, dataLossCheckMs: 100 };

test('pipeline serve on an allkeys-lru Redis: exit 1 with the config error naming maxmemory-policy, never listening', async () => {
  await redis.config('SET', 'maxmemory-policy', 'allkeys-lru');
  try {
    const p = cli(['--config', writeConfig(randomPipeline('evs'), FAST), 'serve', '--port', '16241'], server.url);
    const code = await exitedWithin(p, 15_000);
    if (code === 'running') p.kill('SIGTERM');
    assert.is(code, 1, p.output());
    assert.match(p.output(), /^error: config error at maxmemory-policy: maxmemory-policy is allkeys-lru, not noeviction.*refusing to start/m);
    assert.not.match(p.output(), /api\.listening/);
  } finally {
    await redis.config('SET', 'maxmemory-policy', 'noeviction');
  }
});

test('allkeys-lru set while the server runs: submissions 503 redis_evicts (nothing written), /readyz 503 with the reason; noeviction again: taken', async () => {
  const config = rulesOnlyConfig(server.url, randomPipeline('evr'), TIMERS);
  const input = new Keys(config.pipeline).stream(config.input);
  const lines: Record<string, unknown>[] = [];
  const { app, base } = await listeningApi(config, TOKEN, {
    logger: createLogger({ component: 'api' }, 'info', (l) => lines.push(JSON.parse(l) as Record<string, unknown>)),
  });
  const post = (path: string, id: string) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id, title: `Product ${id}` }),
    });
  const ready = () => fetch(`${base}/readyz`).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }));
  try {
    assert.is((await post('/v1/products', 'a1')).status, 202);
    const before = await redis.xlen(input);
    assert.is(before, 1);

    await redis.config('SET', 'maxmemory-policy', 'allkeys-lru');
    await waitFor('/readyz to say the policy', async () => (await ready()).status === 503, 5_000);
    const r = await ready();
    assert.is(r.body.takesRecords, false);
    assert.is(r.body.redis, true);
    assert.match(String(r.body.reason), /maxmemory-policy is allkeys-lru/);
    for (const path of ['/v1/products', '/v1/enrich']) {
      const res = await post(path, 'a2');
      const body = (await res.json()) as { error: string; message: string };
      assert.is(res.status, 503, `${path}: ${JSON.stringify(body)}`);
      assert.is(body.error, 'redis_evicts');
      assert.match(body.message, /maxmemory-policy is allkeys-lru.*CONFIG SET maxmemory-policy noeviction/);
      assert.ok(res.headers.get('retry-after'), 'Retry-After');
    }
    assert.is(await redis.xlen(input), before, 'nothing written while refused');
    const said = lines.filter((l) => l.event === 'redis.eviction_policy');
    assert.is(said.length, 1, JSON.stringify(said));
    assert.is(said[0]!.level, 'error');
    assert.match(String(said[0]!.err), /changed at run time \(the API server started under noeviction\)/);

    await redis.config('SET', 'maxmemory-policy', 'noeviction');
    await waitFor('/readyz ready again', async () => (await ready()).status === 200, 5_000);
    assert.is((await post('/v1/products', 'a2')).status, 202);
    assert.is(await redis.xlen(input), before + 1);
  } finally {
    await redis.config('SET', 'maxmemory-policy', 'noeviction');
    await app.close();
  }
});

test("the console's amber banner names the allkeys-lru policy while submissions are refused, and goes once it is noeviction again", async () => {
  const { app, url } = await startConsole(rulesOnlyConfig(server.url, randomPipeline('evc'), TIMERS));
  const line = async () =>
    ((await (await fetch(`${url}/console/api/stats`, { headers: auth(READ) })).json()) as { writeRefusalLine: string | null } | null)?.writeRefusalLine ?? null;
  try {
    await waitFor('a first sample', async () => (await fetch(`${url}/console/api/stats`, { headers: auth(READ) })).ok, 5_000);
    assert.is(await line(), null);
    await redis.config('SET', 'maxmemory-policy', 'allkeys-lru');
    await waitFor('the banner', async () => (await line()) !== null, 5_000);
    assert.match(
      String(await line()),
      /maxmemory-policy is allkeys-lru.*the API refuses submissions \(503 redis_evicts\).*CONFIG SET maxmemory-policy noeviction/,
    );
    await redis.config('SET', 'maxmemory-policy', 'noeviction');
    await waitFor('the banner gone', async () => (await line()) === null, 5_000);
  } finally {
    await redis.config('SET', 'maxmemory-policy', 'noeviction');
    await app.close();
  }
});

test.run();
