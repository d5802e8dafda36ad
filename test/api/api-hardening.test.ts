/**
 * The HTTP API before it is exposed (a security review's findings, each failed on the code before):
 * slow or silent clients do not hold connections, refusals end their connection, a resuming SSE
 * client that stops reading is cut off, answers carry security headers, and a server without
 * tokens serves only this machine's own clients (no cross-site requests, no DNS-rebound names).
 */
import { connect, type Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { openModeRefusal } from '../../lib/api/auth.js';
import { buildServer } from '../../lib/api/server.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import { rulesOnlyConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);
const TOKEN = 'admin-token-0123456789a';

async function listening(limits = {}, tokens = [{ token: TOKEN, roles: ['admin' as const] }]) {
  const pipeline = randomPipeline();
  const app = await buildServer({
    config: rulesOnlyConfig(server.url, pipeline),
    tokens,
    logger: silentLogger,
    limits: { completionsBlockMs: 100, ...limits },
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as { port: number }).port;
  return { app, keys: new Keys(pipeline), port, base: `http://127.0.0.1:${port}` };
}

/** A raw connection that sends `text` and reports when the server closes it. */
function rawClient(port: number, text: string, read = true): { sock: Socket; closed: () => boolean; data: () => string } {
  const sock = connect(port, '127.0.0.1');
  let closed = false;
  let data = '';
  sock.on('close', () => (closed = true)).on('error', () => undefined);
  sock.on('data', (d: Buffer) => (data += d.toString()));
  if (!read) sock.pause();
  sock.write(text);
  return { sock, closed: () => closed, data: () => data };
}

test('openModeRefusal: loopback Host and no Origin or a loopback one pass; another site, a rebound name, an opaque origin do not (pure)', () => {
  for (const h of [{ host: '127.0.0.1:8080' }, { host: 'localhost' }, { host: '[::1]:80' }, { host: '127.0.0.1:8080', origin: 'http://localhost:3000' }])
    assert.is(openModeRefusal(h), undefined, JSON.stringify(h));
  assert.match(openModeRefusal({ host: 'rebind.attacker.example' })!, /Host "rebind\.attacker\.example" is not a loopback name/);
  // A name that starts like a loopback address is still a name: DNS can rebind it to 127.0.0.1.
  assert.match(
    openModeRefusal({ host: '127.0.0.1.rebind.attacker.example:8080' })!,
    /Host "127\.0\.0\.1\.rebind\.attacker\.example:8080" is not a loopback name/,
  );
  assert.match(openModeRefusal({ host: '127.0.0.1', origin: 'http://127.0.0.1.attacker.example' })!, /is another site/);
  assert.match(openModeRefusal({ host: '127.0.0.1:8080', origin: 'https://evil.example' })!, /Origin https:\/\/evil\.example is another site/);
  assert.match(openModeRefusal({ host: '127.0.0.1', origin: 'null' })!, /opaque origin/);
  assert.ok(openModeRefusal({}), 'no Host at all');
});

test('without tokens: a cross-site form POST and a DNS-rebound Host (127.0.0.1.<name> too) are refused 403 and store nothing; curl from this machine is served; no listening on such a name', async () => {
  const { app, keys, base } = await listening({}, []);
  try {
    const form = await fetch(`${base}/v1/products`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' },
      body: '{"id":"csrf-planted","title":"x"}',
    });
    assert.is(form.status, 403);
    // A page on a DNS-rebound name (here one that starts like 127.0.0.1) sends that Host, and its own Origin on a POST.
    for (const name of ['rebind.attacker.example', '127.0.0.1.rebind.attacker.example']) {
      const rebound = rawClient(
        Number(new URL(base).port),
        `POST /v1/products HTTP/1.1\r\nHost: ${name}\r\nOrigin: http://${name}\r\nContent-Type: application/json\r\nContent-Length: 35\r\n\r\n{"id":"rebind-planted","title":"x"}`,
      );
      await waitFor('an answer', () => rebound.data().includes('\r\n\r\n'), 5_000);
      assert.match(rebound.data(), /^HTTP\/1\.1 403/, name);
      rebound.sock.destroy();
    }
    assert.is(await redis.xlen(keys.stream('in')), 0, 'nothing planted');
    const own = await fetch(`${base}/v1/products`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"id":"mine","title":"x"}' });
    assert.is(own.status, 202);
    // Nor may a server without tokens listen on such a name (it had been taken as loopback).
    const named = buildServer({ config: rulesOnlyConfig(server.url, randomPipeline()), tokens: [], host: '127.0.0.1.attacker.example', logger: silentLogger });
    await named.then(
      () => assert.unreachable('built'),
      (err: unknown) => assert.match(String(err), /API_TOKENS.*refusing to listen on 127\.0\.0\.1\.attacker\.example/),
    );
  } finally {
    await app.close();
  }
});

test('security headers on the console page and API answers; a 401 ends its connection', async () => {
  const { app, base } = await listening();
  try {
    for (const path of ['/console/', '/healthz', '/v1/events']) {
      // The event stream too: its answer is written by the route itself, past Fastify's onSend hooks.
      const ctrl = new AbortController();
      const r = await fetch(base + path, { headers: { authorization: `Bearer ${TOKEN}` }, signal: ctrl.signal });
      assert.match(r.headers.get('content-security-policy') ?? '', /default-src 'self'.*frame-ancestors 'none'/, path);
      assert.is(r.headers.get('x-content-type-options'), 'nosniff', path);
      assert.is(r.headers.get('x-frame-options'), 'DENY', path);
      assert.is(r.headers.get('referrer-policy'), 'no-referrer', path);
      ctrl.abort();
    }
    // The client's request id is echoed when it is a short token; a long or odd one is replaced (it was logged and audited as sent).
    assert.is((await fetch(`${base}/healthz`, { headers: { 'x-request-id': 'trace-42.a:b' } })).headers.get('x-request-id'), 'trace-42.a:b');
    const forged = await fetch(`${base}/healthz`, { headers: { 'x-request-id': 'x'.repeat(8_000) } });
    assert.match(forged.headers.get('x-request-id') ?? '', /^req-[0-9a-z]+$/);
    const denied = await fetch(`${base}/v1/products`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[]' });
    assert.is(denied.status, 401);
    assert.is(denied.headers.get('connection'), 'close');
  } finally {
    await app.close();
  }
});

test("a path the router refuses (a bad %-escape, an over-long id) is answered in the API's shape with its headers; Fastify's own answer had none and echoed the path", async () => {
  const { app, base } = await listening();
  try {
    const bad = await fetch(`${base}/v1/products/a%ZZ`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.is(bad.status, 400);
    assert.equal(await bad.json(), {
      error: 'bad_request',
      message: 'the path is not a valid URL: a % not followed by two hex digits (URL-encode an id)',
    });
    // Two hex digits that do not decode as UTF-8 (an overlong "/", a lone surrogate): said as that, not as a missing digit.
    for (const escape of ['%C0%AF', '%ED%A0%80']) {
      const notUtf8 = await fetch(`${base}/v1/products/a${escape}`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.is(notUtf8.status, 400, escape);
      assert.equal(
        await notUtf8.json(),
        { error: 'bad_request', message: 'the path is not a valid URL: its %-escapes do not decode as UTF-8 (URL-encode an id as UTF-8)' },
        escape,
      );
    }
    const long = await fetch(`${base}/v1/products/${'a'.repeat(4_000)}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.is(long.status, 414);
    assert.equal(await long.json(), { error: 'too_long', message: 'a path parameter is over 3072 characters (a product id is at most 256, URL-encoded)' });
    for (const r of [bad, long]) {
      assert.match(r.headers.get('content-security-policy') ?? '', /default-src 'self'/);
      assert.is(r.headers.get('x-content-type-options'), 'nosniff');
      assert.match(r.headers.get('x-request-id') ?? '', /^req-[0-9a-z]+$/);
    }
  } finally {
    await app.close();
  }
});

test('a request whose body never comes is cut off after requestTimeoutMs, with or without a token (sockets had stayed open for good); past maxConnections a connection is refused', async () => {
  const { app, port } = await listening({ requestTimeoutMs: 500, maxConnections: 3 });
  try {
    const head = (auth: string) => `POST /v1/products HTTP/1.1\r\nHost: 127.0.0.1\r\n${auth}Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n[`;
    const anonymous = rawClient(port, head(''));
    const signed = rawClient(port, head(`Authorization: Bearer ${TOKEN}\r\n`));
    await waitFor('both cut off', () => anonymous.closed() && signed.closed(), 5_000);
    const held = [0, 1, 2].map(() => rawClient(port, ''));
    await new Promise((r) => setTimeout(r, 200));
    const extra = rawClient(port, '');
    await waitFor('the connection past the cap is closed', () => extra.closed(), 5_000);
    assert.ok(
      held.every((h) => !h.closed()),
      'the first three stay open',
    );
    for (const h of held) h.sock.destroy();
  } finally {
    await app.close();
  }
});

test('a keep-alive connection left idle after its answer is closed after keepAliveTimeoutMs (it was Fastify’s 72 s, not an option)', async () => {
  const { app, port } = await listening({ keepAliveTimeoutMs: 1_000 });
  try {
    const idle = rawClient(port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await waitFor('the answer', () => idle.data().includes('{"ok":true}'), 5_000);
    assert.match(idle.data(), /keep-alive: timeout=1\r\n/i, 'the client is told how long the server keeps it');
    const answeredAt = Date.now();
    await waitFor('the idle connection closed by the server', () => idle.closed(), 5_000);
    assert.ok(Date.now() - answeredAt >= 800, 'not before its time');
  } finally {
    await app.close();
  }
});

test('a client resuming with Last-Event-ID that stops reading is cut off after sseStallMs (its catch-up had waited for ever, buffering every live event)', async () => {
  const { app, keys, port } = await listening({ ssePageSize: 20, sseStallMs: 300 });
  try {
    // More than the kernel's socket buffers hold (tens of MB on loopback), so the writes back up.
    const x = 'x'.repeat(8_000);
    const p = redis.pipeline();
    for (let i = 0; i < 8_000; i++) p.xadd(keys.extra('done'), '*', 'k', `id-${i}`, 's', 'stored', 'g', 'store', 'x', x);
    await p.exec();
    const stuck = rawClient(
      port,
      `GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN}\r\nLast-Event-ID: 0-1\r\nAccept: text/event-stream\r\n\r\n`,
      false,
    );
    await new Promise((r) => setTimeout(r, 1_500)); // several sseStallMs without reading
    stuck.sock.resume(); // read what the kernel holds: the end of the stream follows if the server cut it
    await waitFor('the stalled client cut off', () => stuck.closed(), 10_000);
  } finally {
    await app.close();
  }
});

test.run();
