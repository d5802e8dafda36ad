/**
 * The HTTP API against clients that misbehave (an audit's findings, each failed on the code before):
 * a stream reader that never reads, a malformed Last-Event-ID, bodies of the wrong type, a bad body
 * during a backlog, keep-alive connections busy at shutdown. Real server, real Redis.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect } from 'node:net';
import { buildServer } from '../../lib/api/server.js';
import { countRecords, NdjsonBody } from '../../lib/api/submit.js';
import { createLogger, silentLogger } from '../../lib/observe/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import { rulesOnlyConfig } from '../helpers/pipeline.js';
import { client, randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';
import { readyOrClosed } from '../helpers/api-server.js';

const { server, redis } = await redisForFile(test);
const TOKEN = 'admin-token-0123456789a';
const H = { authorization: `Bearer ${TOKEN}` };

async function listening(limits = {}, maxLag?: number) {
  const pipeline = randomPipeline();
  const config = rulesOnlyConfig(server.url, pipeline);
  if (maxLag !== undefined) for (const s of config.stages) s.maxLag = maxLag;
  const app = await buildServer({
    config,
    tokens: [{ token: TOKEN, roles: ['admin'] }],
    logger: silentLogger,
    limits: { completionsBlockMs: 100, backpressureCacheMs: 0, ...limits },
  });
  await readyOrClosed(app, async () => {
    await app.listen({ host: '127.0.0.1', port: 0 });
    await waitFor('completions reader', () => app.pipeline.completions.following, 5_000);
  });
  const port = (app.server.address() as { port: number }).port;
  return { app, keys: new Keys(pipeline), port, base: `http://127.0.0.1:${port}` };
}

test('countRecords: NDJSON lines with content, array length, one object; stops past the limit (pure)', () => {
  assert.is(countRecords(new NdjsonBody('{"a":1}\n\n  \n{"b":2}\nx'), 100), 3);
  assert.is(countRecords(new NdjsonBody('x\n'.repeat(1_000_000)), 10), 11, 'stops once past the limit');
  assert.is(countRecords([1, 2, 3], 100), 3);
  assert.is(countRecords({ id: 'a' }, 100), 1);
  assert.is(countRecords('a JSON string', 100), 1, 'a JSON body that is a string is one (bad) record, not NDJSON');
});

test('an SSE client that never reads is cut off once its unread bytes pass sseMaxBufferBytes (they had grown the server to GBs)', async () => {
  const { app, keys, port } = await listening({ sseMaxBufferBytes: 64 * 1024 });
  try {
    // A raw socket that sends the request and then never reads.
    const sock = connect(port, '127.0.0.1');
    sock.write(`GET /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nAccept: text/event-stream\r\n\r\n`);
    sock.pause();
    let closed = false;
    sock.on('close', () => (closed = true));
    sock.on('error', () => undefined);
    await waitFor('the stream to open', () => app.pipeline.completions.following, 5_000);
    await new Promise((r) => setTimeout(r, 200));
    const x = 'x'.repeat(400);
    for (let round = 0; round < 40 && !closed; round++) {
      const p = redis.pipeline();
      for (let i = 0; i < 500; i++) p.xadd(keys.extra('done'), '*', 'k', `id-${round}-${i}`, 's', 'dead_lettered', 'g', 'preprocess', 'x', x);
      await p.exec();
      await new Promise((r) => setTimeout(r, 50));
    }
    sock.resume(); // drain what the kernel holds: the end of the stream follows
    await waitFor('the server to cut the stream', () => closed, 10_000);
  } finally {
    await app.close();
  }
});

test('a malformed Last-Event-ID is a 400 naming it (it had started a live-only stream, a silent gap)', async () => {
  const { app, base } = await listening();
  try {
    for (const bad of ['garbage', '1796444897796']) {
      const r = await fetch(`${base}/v1/events`, { headers: { ...H, 'last-event-id': bad } });
      assert.is(r.status, 400, bad);
      assert.match(((await r.json()) as { message: string }).message, 'Last-Event-ID');
    }
  } finally {
    await app.close();
  }
});

test('bodies: text/plain is a 415 (it was read as NDJSON); a JSON string is a 400 (it was parsed again as NDJSON); enrich with a bad body is a 400 during a backlog (it was a 429)', async () => {
  const { app, base, keys } = await listening({}, 1);
  try {
    const line = JSON.stringify({ id: 't1', title: 'Kensington K72349US Wireless Mouse' });
    const plain = await fetch(`${base}/v1/products`, { method: 'POST', headers: { ...H, 'content-type': 'text/plain' }, body: line });
    assert.is(plain.status, 415);
    const str = await fetch(`${base}/v1/products`, { method: 'POST', headers: { ...H, 'content-type': 'application/json' }, body: JSON.stringify(line) });
    assert.is(str.status, 400);
    assert.is(await redis.xlen(keys.stream('in')), 0, 'nothing entered');
    for (let i = 0; i < 3; i++) await redis.xadd(keys.stream('in'), '*', 'k', `q${i}`, 'e', 'x'); // lag 3 > maxLag 1
    const bad = await fetch(`${base}/v1/enrich`, {
      method: 'POST',
      headers: { ...H, 'content-type': 'application/json' },
      body: JSON.stringify({ id: '', title: 'x' }),
    });
    assert.is(bad.status, 400);
  } finally {
    await app.close();
  }
});

test('shutdown with keep-alive requests in flight ends in seconds (the connections busy when close began held it 72 s)', async () => {
  const { app, base } = await listening();
  const waits = [0, 1, 2].map((i) =>
    fetch(`${base}/v1/enrich?timeout_ms=1500`, {
      method: 'POST',
      headers: { ...H, 'content-type': 'application/json' },
      body: JSON.stringify({ id: `k${i}`, title: 'Kensington K72349US Wireless Mouse' }),
    }).then((r) => r.status),
  );
  await new Promise((r) => setTimeout(r, 300));
  const t0 = Date.now();
  await app.close();
  const ms = Date.now() - t0;
  assert.equal((await Promise.all(waits)).sort(), [202, 202, 202], 'the waiting requests are answered');
  assert.ok(ms < 10_000, `closed in ${ms} ms`);
});

test('a Redis that stops answering (CLIENT PAUSE: connected, silent): a read is a 503 after redisCommandTimeoutMs and /readyz says not ready (both had waited until Redis answered again)', async () => {
  const { app, base } = await listening({ redisCommandTimeoutMs: 300 });
  const pauser = client(server.url);
  try {
    await pauser.client('PAUSE', 3000, 'ALL');
    const t0 = Date.now();
    const [read, ready] = await Promise.all([fetch(`${base}/v1/products/x1`, { headers: H }), fetch(`${base}/readyz`)]);
    const ms = Date.now() - t0;
    assert.is(read.status, 503);
    assert.is(ready.status, 503);
    assert.ok(ms < 2_500, `answered in ${ms} ms, before the pause ended`);
  } finally {
    await pauser.client('UNPAUSE');
    pauser.disconnect();
    await app.close();
  }
});

test('a client that goes away mid-body is logged as api.client_aborted, not as Redis unavailable (a false alarm)', async () => {
  const lines: string[] = [];
  const config = rulesOnlyConfig(server.url, randomPipeline());
  const app = await buildServer({
    config,
    tokens: [{ token: TOKEN, roles: ['admin'] }],
    logger: createLogger({ component: 'api' }, 'info', (l) => lines.push(l)),
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  try {
    const sock = connect((app.server.address() as { port: number }).port, '127.0.0.1');
    sock.on('error', () => undefined);
    sock.write(
      `POST /v1/products HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{"id":"a",`,
    );
    await new Promise((r) => setTimeout(r, 200));
    sock.destroy();
    await waitFor('the request to end in the log', () => lines.some((l) => l.includes('"http.request"') || l.includes('client_aborted')), 5_000);
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(
      lines.some((l) => l.includes('"api.client_aborted"')),
      lines.join('\n'),
    );
    assert.not.ok(
      lines.some((l) => l.includes('redis_unavailable')),
      'no Redis alarm',
    );
    assert.not.ok(
      lines.some((l) => l.includes('"http.client_error"')),
      'nor as a request that is not HTTP',
    );
  } finally {
    await app.close();
  }
});

test.run();
