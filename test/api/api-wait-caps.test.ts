/**
 * The caps on requests that hold their connection open (SSE streams, `wait_ms` long-polls, enrich),
 * end to end on a real server and Redis: per caller (its token's name; without tokens, its remote
 * address) `api.maxWaitsPerCaller`, in all `api.maxWaits`; over a cap a 429 naming the limit, with
 * Retry-After, one `api.waits_refused` log line and the route's 429 on GET /metrics; a slot is freed
 * when its wait ends and when its client goes away; `/healthz` and `/metrics` are never refused.
 */
import { connect, type Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseTokens } from '../../lib/api/auth.js';
import { buildServer } from '../../lib/api/server.js';
import { consolePlugin } from '../../lib/console/plugin.js';
import { createLogger } from '../../lib/observe/logger.js';
import { rulesOnlyConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server } = await redisForFile(test);
const ALPHA = 'alpha-token-0123456789';
const BETA = 'beta-token-0123456789ab';
const auth = (token: string) => ({ authorization: `Bearer ${token}` });

async function listening(limits: { maxWaits: number; maxWaitsPerCaller: number }, tokens = `read+submit@alpha:${ALPHA},read+submit@beta:${BETA}`) {
  const lines: Record<string, unknown>[] = [];
  const app = await buildServer({
    config: rulesOnlyConfig(server.url, randomPipeline()),
    tokens: parseTokens(tokens),
    logger: createLogger({ component: 'api' }, 'info', (line) => lines.push(JSON.parse(line) as Record<string, unknown>)),
    limits: { completionsBlockMs: 100, ...limits },
    plugins: [{ plugin: consolePlugin, opts: { sampleIntervalMs: 1000 } }],
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  const opened: AbortController[] = [];
  /** A request sent, its answer to come; `abort` closes its connection (the client goes away). */
  const start = (path: string, token: string, init: RequestInit = {}) => {
    const ac = new AbortController();
    opened.push(ac);
    const res = fetch(`${base}${path}`, { ...init, headers: { ...auth(token), ...init.headers }, signal: ac.signal });
    res.catch(() => undefined); // aborted
    return { res, abort: () => ac.abort() };
  };
  /** A request whose answer's head is awaited; its body (an SSE stream) stays open until `abort`. */
  const open = async (path: string, token: string, init: RequestInit = {}) => {
    const { res, abort } = start(path, token, init);
    return { res: await res, abort };
  };
  const refusals = () => lines.filter((l) => l.event === 'api.waits_refused');
  const close = async () => {
    for (const ac of opened) ac.abort();
    await app.close();
  };
  return { app, base, start, open, refusals, close };
}

/** A 429 for a wait cap: Retry-After, the API's error shape naming the limit. */
async function assertCapped(res: Response, limit: string) {
  assert.is(res.status, 429);
  assert.is(res.headers.get('retry-after'), '1');
  const body = (await res.json()) as { error: string; message: string; limit: string };
  assert.is(body.error, 'too_many_waits');
  assert.is(body.limit, limit);
  assert.ok(body.message.includes(limit), body.message);
}

test('per token: at maxWaitsPerCaller a caller’s next stream, long-poll or enrich is a 429 naming it, logged once each and counted; another token, a plain status read, /healthz and /metrics are served', async () => {
  const s = await listening({ maxWaits: 10, maxWaitsPerCaller: 2 });
  try {
    const events = await s.open('/v1/events', ALPHA);
    const live = await s.open('/console/api/events', ALPHA);
    assert.is(events.res.status, 200);
    assert.is(live.res.status, 200);
    await assertCapped((await s.open('/v1/events', ALPHA)).res, 'api.maxWaitsPerCaller');
    await assertCapped((await s.open('/v1/products/p1?wait_ms=5000', ALPHA)).res, 'api.maxWaitsPerCaller');
    const enrich = await s.open('/v1/enrich?timeout_ms=5000', ALPHA, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"id":"e1","title":"x"}',
    });
    await assertCapped(enrich.res, 'api.maxWaitsPerCaller');
    // Three refusals, one line each, naming the caller by its token's name.
    await waitFor('three api.waits_refused lines', () => s.refusals().length === 3, 5_000);
    for (const l of s.refusals()) assert.equal([l.caller, l.limit, l.max, l.status], ['alpha', 'api.maxWaitsPerCaller', 2, 429]);
    // Not waits: a status read without wait_ms, health, metrics (all while alpha is at its cap).
    assert.is((await fetch(`${s.base}/v1/products/p1`, { headers: auth(ALPHA) })).status, 404);
    assert.is((await fetch(`${s.base}/healthz`)).status, 200);
    const metrics = await fetch(`${s.base}/metrics`, { headers: auth(ALPHA) });
    assert.is(metrics.status, 200);
    const text = await metrics.text();
    assert.match(text, /pipeline_api_requests_total\{[^}]*route="\/v1\/events"[^}]*status="429"[^}]*\} 1/);
    assert.match(text, /pipeline_api_requests_total\{[^}]*route="\/v1\/enrich"[^}]*status="429"[^}]*\} 1/);
    // Another token has its own slots.
    const other = await s.open('/v1/events', BETA);
    assert.is(other.res.status, 200);
    assert.is(s.app.pipeline.waits.open('alpha'), 2);
    assert.is(s.app.pipeline.waits.open('beta'), 1);
  } finally {
    await s.close();
  }
});

test('server-wide: at maxWaits every caller is refused 429 naming api.maxWaits, one under its own cap too; /healthz answers', async () => {
  const s = await listening({ maxWaits: 3, maxWaitsPerCaller: 2 });
  try {
    for (const token of [ALPHA, ALPHA, BETA]) assert.is((await s.open('/v1/events', token)).res.status, 200);
    await assertCapped((await s.open('/v1/events', BETA)).res, 'api.maxWaits');
    await assertCapped((await s.open('/v1/events', ALPHA)).res, 'api.maxWaitsPerCaller');
    assert.is((await fetch(`${s.base}/healthz`)).status, 200);
    assert.is(s.app.pipeline.waits.open(), 3);
  } finally {
    await s.close();
  }
});

test('a slot is freed when its wait ends (a long-poll answered at wait_ms, an enrich at timeout_ms) and when its client goes away (a stream, a long-poll): no leak', async () => {
  const s = await listening({ maxWaits: 10, maxWaitsPerCaller: 1 });
  try {
    const post = await fetch(`${s.base}/v1/products`, {
      method: 'POST',
      headers: { ...auth(ALPHA), 'content-type': 'application/json' },
      body: '{"id":"q1","title":"x"}',
    });
    assert.is(post.status, 202);
    // Queued with no worker: the long-poll waits its whole wait_ms, holding the slot meanwhile.
    const poll = s.start('/v1/products/q1?wait_ms=600', ALPHA);
    await waitFor('the long-poll holding its slot', () => s.app.pipeline.waits.open('alpha') === 1, 5_000);
    await assertCapped((await s.open('/v1/events', ALPHA)).res, 'api.maxWaitsPerCaller');
    assert.is(((await (await poll.res).json()) as { status: string }).status, 'queued');
    await waitFor('the answered long-poll’s slot freed', () => s.app.pipeline.waits.open() === 0, 5_000);
    const enrich = await s.open('/v1/enrich?timeout_ms=300', ALPHA, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"id":"e2","title":"x"}',
    });
    assert.is(enrich.res.status, 202);
    await waitFor('the enrich’s slot freed', () => s.app.pipeline.waits.open() === 0, 5_000);
    // Client gone: an SSE stream, then a long-poll of 60 s, each aborted long before it ends.
    const stream = await s.open('/v1/events', ALPHA);
    assert.is(stream.res.status, 200);
    stream.abort();
    await waitFor('the aborted stream’s slot freed', () => s.app.pipeline.waits.open() === 0, 5_000);
    const long = s.start('/v1/products/q1?wait_ms=60000', ALPHA);
    await waitFor('the long-poll holding its slot', () => s.app.pipeline.waits.open('alpha') === 1, 5_000);
    long.abort();
    await waitFor('the aborted long-poll’s slot freed', () => s.app.pipeline.waits.open() === 0, 5_000);
    // Freed for real: the caller opens a stream again.
    assert.is((await s.open('/v1/events', ALPHA)).res.status, 200);
    assert.is(s.refusals().length, 1);
  } finally {
    await s.close();
  }
});

test('without tokens, per remote address: a second address has its own slots', async () => {
  const s = await listening({ maxWaits: 10, maxWaitsPerCaller: 1 }, '');
  try {
    const raw = (localAddress: string) =>
      new Promise<string>((resolve, reject) => {
        const sock = connect({ port: Number(new URL(s.base).port), host: '127.0.0.1', localAddress });
        let data = '';
        sock.on('data', (d: Buffer) => {
          data += d.toString();
          if (data.includes('\r\n\r\n')) resolve(data);
        });
        sock.on('error', reject);
        sock.write('GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
        sockets.push(sock);
      });
    const sockets: Socket[] = [];
    try {
      assert.match(await raw('127.0.0.1'), /^HTTP\/1\.1 200/);
      assert.match(await raw('127.0.0.1'), /^HTTP\/1\.1 429/);
      assert.match(await raw('127.0.0.2'), /^HTTP\/1\.1 200/);
      assert.is(s.refusals()[0]?.caller, '127.0.0.1');
    } finally {
      for (const sock of sockets) sock.destroy();
    }
  } finally {
    await s.close();
  }
});

test.run();
