import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { buildServer } from '../../lib/api/server.js';
import { consolePlugin } from '../../lib/console/plugin.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import { readRedisProduct } from '../../stages/sinks/export.js';
import { rulesOnlyConfig, startWorkers, stopAll } from '../helpers/pipeline.js';
import { injectedApi, listeningApi } from '../helpers/api-server.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);
const TOKEN = 'admin-token-0123456789a';
const H = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

/** A real listening server (HTTP on a random port) over a fresh rules-only pipeline. */
async function listening(pipeline: string, limits = {}) {
  const config = rulesOnlyConfig(server.url, pipeline);
  const keys = new Keys(pipeline);
  const productReader = (ctx: { redis: Redis }) => ({
    read: async (k: string) => (await readRedisProduct(ctx.redis, keys, k)) as Record<string, unknown> | null,
  });
  const { app, base } = await listeningApi(config, TOKEN, { limits, productReader });
  return { app, config, keys, base };
}

const apiConnections = async () =>
  String(await redis.client('LIST'))
    .split('\n')
    .filter((l: string) => / name=api:/.test(l))
    .map((l: string) => /name=(\S+)/.exec(l)![1]!)
    .sort();

test('1,000 concurrent enrich waiters share one completions connection: api:cmd + api:done in CLIENT LIST; every one answered with its stored product', async () => {
  const { app, config, base } = await listening(randomPipeline());
  let workers: ReturnType<typeof startWorkers> = [];
  try {
    const N = 1_000;
    // No worker yet: every request waits.
    const answers = Array.from({ length: N }, (_, i) =>
      fetch(`${base}/v1/enrich?timeout_ms=60000`, {
        method: 'POST',
        headers: H,
        body: JSON.stringify({ id: `w${i}`, title: `SanDisk Ultra 64GB USB 3.0 Flash Drive SDCZ48-064G-A46 #${i}` }),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as { id: string; status: string; product?: { key: string } } })),
    );
    await waitFor('1,000 waiters', () => app.pipeline.completions.waiting === N, 30_000);
    assert.equal(await apiConnections(), ['api:cmd', 'api:done'], 'two connections, whatever the number of waiters');
    workers = startWorkers(config);
    const got = await Promise.all(answers);
    assert.is(got.filter((g) => g.status === 200 && g.body.status === 'stored').length, N, JSON.stringify(got.find((g) => g.status !== 200)));
    assert.ok(
      got.every((g, i) => g.body.product?.key === `w${i}`),
      'each waiter got its own product',
    );
    assert.equal(await apiConnections(), ['api:cmd', 'api:done']);
    assert.is(app.pipeline.completions.waiting, 0);
  } finally {
    await stopAll(workers);
    await app.close();
  }
});

test('enrich without a result in time answers 202 with the current status (never waits past timeout_ms)', async () => {
  const { app, base } = await listening(randomPipeline());
  try {
    const t0 = Date.now();
    const r = await fetch(`${base}/v1/enrich?timeout_ms=200`, { method: 'POST', headers: H, body: JSON.stringify({ id: 'slow', title: 't' }) });
    assert.is(r.status, 202);
    assert.equal(await r.json(), { id: 'slow', status: 'queued', stage: 'preprocess' });
    assert.ok(Date.now() - t0 < 5_000);
  } finally {
    await app.close();
  }
});

test('1,000 products over HTTP (10 x 100) all end stored and readable; SSE streams the completions and resumes after Last-Event-ID without gaps or repeats', async () => {
  const { app, config, base } = await listening(randomPipeline());
  const workers = startWorkers(config);
  const ac = new AbortController();
  try {
    const events: { id: string; key: string }[] = [];
    const sse = await fetch(`${base}/v1/events`, { headers: H, signal: ac.signal });
    assert.is(sse.headers.get('content-type'), 'text/event-stream');
    const reading = (async () => {
      let buf = '';
      for await (const chunk of sse.body as unknown as AsyncIterable<Uint8Array>) {
        buf += Buffer.from(chunk).toString();
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = /^data: (.*)$/m.exec(frame);
          if (data) events.push(JSON.parse(data[1]!));
        }
      }
    })().catch(() => {});
    for (let b = 0; b < 10; b++) {
      const records = Array.from({ length: 100 }, (_, i) => ({ id: `h${b * 100 + i}`, title: `Kingston DataTraveler 32GB DTX/32GB item ${b * 100 + i}` }));
      const r = await fetch(`${base}/v1/products`, { method: 'POST', headers: H, body: JSON.stringify(records) });
      assert.is(r.status, 202);
      assert.is(((await r.json()) as { accepted: string[] }).accepted.length, 100);
    }
    await waitFor('1,000 completion events', () => events.length >= 1_000, 60_000);
    assert.is(new Set(events.map((e) => e.key)).size, 1_000);
    for (const id of ['h0', 'h537', 'h999']) {
      const j = (await (await fetch(`${base}/v1/products/${id}`, { headers: H })).json()) as { status: string; product: { key: string } };
      assert.equal([j.status, j.product.key], ['stored', id]);
    }
    ac.abort();
    await reading;
    // Resume after the 500th event: exactly the other 500, in order.
    const resumed = await fetch(`${base}/v1/events`, { headers: { ...H, 'last-event-id': events[499]!.id } });
    const got: string[] = [];
    const reader = (resumed.body as ReadableStream<Uint8Array>).getReader();
    // Only whole frames: a chunk may end inside an id line ("id: 17962889-5" of "-52").
    let buf = '';
    while (got.length < 500) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += Buffer.from(value).toString();
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const id = /^id: (\S+)$/m.exec(buf.slice(0, i));
        buf = buf.slice(i + 2);
        if (id) got.push(id[1]!);
      }
    }
    await reader.cancel();
    assert.equal(
      got,
      events.slice(500).map((e) => e.id),
    );
  } finally {
    ac.abort();
    await stopAll(workers);
    await app.close();
  }
});

test('429 with Retry-After while the input lag is above limits.maxLag; accepted again once the stage catches up', async () => {
  const pipeline = randomPipeline();
  const config = rulesOnlyConfig(server.url, pipeline);
  config.stages[0]!.maxLag = 20;
  const app = await injectedApi(config, TOKEN);
  try {
    const post = (n: number, from: number) =>
      app.inject({ method: 'POST', url: '/v1/products', headers: H, payload: Array.from({ length: n }, (_, i) => ({ id: `l${from + i}`, title: 't' })) });
    assert.is((await post(25, 0)).statusCode, 202, 'lag 0: in');
    const refused = await post(1, 100);
    assert.is(refused.statusCode, 429);
    assert.is(refused.headers['retry-after'], '1');
    assert.match(refused.json().message, /lag 25 is above limits.maxLag 20/);
    const enrich = await app.inject({ method: 'POST', url: '/v1/enrich', headers: H, payload: { id: 'e1', title: 't' } });
    assert.is(enrich.statusCode, 429, 'enrich too');
    assert.is((await app.inject({ method: 'GET', url: '/v1/products/l100', headers: H })).statusCode, 404, 'refused means not taken');
    const workers = startWorkers(config);
    try {
      await waitFor('the stage to catch up', async () => (await post(1, 200)).statusCode === 202, 20_000);
    } finally {
      await stopAll(workers);
    }
  } finally {
    await app.close();
  }
});

test('429 redis_full with Retry-After while Redis is at maxmemory; nothing taken; accepted again once the limit is lifted', async () => {
  const pipeline = randomPipeline();
  const app = await injectedApi(rulesOnlyConfig(server.url, pipeline), TOKEN);
  try {
    await redis.config('SET', 'maxmemory', '1mb');
    const r = await app.inject({ method: 'POST', url: '/v1/products', headers: H, payload: { id: 'm1', title: 't' } });
    assert.is(r.statusCode, 429);
    assert.is(r.headers['retry-after'], '1');
    assert.is(r.json().error, 'redis_full');
    assert.match(r.json().message, /Redis is full/);
    assert.is(await redis.xlen(new Keys(pipeline).stream('in')), 0);
  } finally {
    await redis.config('SET', 'maxmemory', '0');
  }
  try {
    assert.is((await app.inject({ method: 'POST', url: '/v1/products', headers: H, payload: { id: 'm1', title: 't' } })).statusCode, 202);
  } finally {
    await app.close();
  }
});

/** A server whose backpressure reading is reused for a minute: a limit set after its first request is met by the writes themselves. */
const staleReadingServer = (pipeline: string): Promise<FastifyInstance> =>
  injectedApi(rulesOnlyConfig(server.url, pipeline), TOKEN, { backpressureCacheMs: 60_000 });

test('a write that Redis refuses with OOM (limit reached after the last backpressure reading) is a 429 redis_full too, not a 500', async () => {
  const pipeline = randomPipeline();
  const app = await staleReadingServer(pipeline);
  try {
    assert.is((await app.inject({ method: 'POST', url: '/v1/products', headers: H, payload: { id: 'o1', title: 't' } })).statusCode, 202);
    await redis.config('SET', 'maxmemory', '1mb');
    const r = await app.inject({ method: 'POST', url: '/v1/products', headers: H, payload: { id: 'o2', title: 't' } });
    assert.is(r.statusCode, 429, r.body);
    assert.is(r.json().error, 'redis_full');
    assert.match(r.json().message, /OOM/);
    assert.is(r.headers['retry-after'], '1');
  } finally {
    await redis.config('SET', 'maxmemory', '0');
    await app.close();
  }
});

test('Redis full part-way through a large request: 202 names the records taken and the rest as not_taken; nothing else written (a 429 had come after 1,000 of them were in)', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  const app = await staleReadingServer(pipeline);
  try {
    assert.is((await app.inject({ method: 'POST', url: '/v1/products', headers: H, payload: { id: 'warm', title: 't' } })).statusCode, 202);
    // Room for one or a few calls of 500 records (each about 250 kB), not for 4,000 records.
    const used = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
    await redis.config('SET', 'maxmemory', String(used + 400_000));
    const body = [
      { id: 'bad' },
      ...Array.from({ length: 4_000 }, (_, i) => ({ id: `p${i}`, title: `SanDisk Ultra 64GB USB 3.0 Flash Drive SDCZ48-064G-A46 #${i} ${'x'.repeat(200)}` })),
    ];
    const r = await app.inject({ method: 'POST', url: '/v1/products', headers: H, payload: body });
    assert.is(r.statusCode, 202, r.body.slice(0, 300));
    const { accepted, rejected } = r.json() as { accepted: string[]; rejected: { index: number; reason: string; error: string }[] };
    assert.ok(accepted.length > 0 && accepted.length < 4_000 && accepted.length % 500 === 0, `taken in whole calls: ${accepted.length}`);
    assert.equal(rejected[0]!.index, 0);
    const notTaken = rejected.filter((x) => x.reason === 'not_taken');
    assert.is(notTaken.length, 4_000 - accepted.length);
    assert.equal(notTaken[0]!.index, accepted.length + 1, 'by their place in the body');
    assert.match(notTaken[0]!.error, /not taken: Redis is full .*OOM/);
    await redis.config('SET', 'maxmemory', '0');
    assert.is(await redis.xlen(keys.stream('in')), 1 + accepted.length, 'the stream holds what the answer says was taken');
    assert.is(await redis.exists(keys.status(`p${accepted.length - 1}`)), 1);
    assert.is(await redis.exists(keys.status(`p${accepted.length}`)), 0);
  } finally {
    await redis.config('SET', 'maxmemory', '0');
    await app.close();
  }
});

test('503 with Retry-After while Redis is unreachable; /readyz 503, /healthz 200', async () => {
  const config = rulesOnlyConfig('redis://127.0.0.1:1', randomPipeline());
  // Shrunk: close() waits up to these for the readers, which wait on the reconnect (6 s at the defaults).
  const limits = { completionsBlockMs: 100, redisCommandTimeoutMs: 500 };
  const app = await buildServer({ config, redisUrl: 'redis://127.0.0.1:1', tokens: [{ token: TOKEN, roles: ['admin'] }], logger: silentLogger, limits });
  try {
    const r = await app.inject({ method: 'POST', url: '/v1/products', headers: H, payload: { id: 'a', title: 't' } });
    assert.is(r.statusCode, 503);
    assert.is(r.headers['retry-after'], '1');
    assert.is((await app.inject({ method: 'GET', url: '/v1/products/a', headers: H })).statusCode, 503);
    assert.is((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 503);
    assert.is((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    // SSE too (it answered 200 and stayed open with nothing to send).
    const events = await app.inject({ method: 'GET', url: '/v1/events', headers: H });
    assert.is(events.statusCode, 503);
    assert.is(events.headers['retry-after'], '1');
  } finally {
    await app.close();
  }
});

test('the console answers 503 with Retry-After at once while Redis is unreachable (its commands had queued until Redis was back, and a purge ran minutes after its caller gave up)', async () => {
  const config = rulesOnlyConfig('redis://127.0.0.1:1', randomPipeline());
  const app = await buildServer({
    config,
    redisUrl: 'redis://127.0.0.1:1',
    tokens: [{ token: TOKEN, roles: ['admin'] }],
    logger: silentLogger,
    // Shrunk: close() waits up to these for the readers (6 s at the defaults). A queued command would
    // fail after redisCommandTimeoutMs, so the two answers are held to less than one of it.
    limits: { completionsBlockMs: 100, redisCommandTimeoutMs: 2_500 },
    plugins: [{ plugin: consolePlugin, opts: { sampleIntervalMs: 300 } }],
  });
  try {
    const t0 = Date.now();
    for (const [method, url] of [
      ['GET', '/console/api/dlq'],
      ['POST', '/console/api/dlq/purge'],
    ] as const) {
      const r = await app.inject({ method, url, headers: H, payload: method === 'POST' ? { all: true } : undefined });
      assert.is(r.statusCode, 503, `${method} ${url}: ${r.body}`);
      assert.is(r.headers['retry-after'], '1');
    }
    assert.ok(Date.now() - t0 < 2_500, 'answered at once');
    assert.is((await app.inject({ method: 'GET', url: '/' })).statusCode, 200, 'the page itself needs no Redis');
  } finally {
    await app.close();
  }
});

test("closing: a new request is answered 503 with Retry-After and its request id (Fastify's own 503 had neither)", async () => {
  const app = await staleReadingServer(randomPipeline());
  const closing = app.close();
  const r = await app.inject({ method: 'GET', url: '/v1/products/x', headers: { ...H, 'x-request-id': 'req-closing' } });
  await closing;
  assert.is(r.statusCode, 503, r.body);
  assert.is(r.headers['retry-after'], '1');
  assert.is(r.headers['x-request-id'], 'req-closing');
  assert.match(r.json().message, /shutting down/);
});

test.run();
