/**
 * postOnce (lib/webhooks/post.ts) against a real local HTTP receiver: the answer is classified by
 * its status, and only the start of its body is read, so a receiver answering with an endless body
 * neither holds the delivery until the timeout nor fills memory.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ANSWER_BYTES, postOnce } from '../../lib/webhooks/post.js';

/** A receiver that answers `status` and then streams body chunks until the client goes away. */
async function endlessReceiver(status: number): Promise<{ url: string; server: Server; sent: () => number }> {
  let sent = 0;
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(status, { 'content-type': 'text/plain' });
    const chunk = 'x'.repeat(16 * 1024);
    const timer = setInterval(() => {
      if (res.destroyed) return clearInterval(timer);
      res.write(chunk);
      sent += chunk.length;
    }, 5);
    res.on('close', () => clearInterval(timer));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, server, sent: () => sent };
}

test('a 2xx with an endless body is delivered at once, not after the timeout', async () => {
  const r = await endlessReceiver(200);
  try {
    const started = Date.now();
    const out = await postOnce(r.url, '{}', { 'content-type': 'application/json' }, 10_000);
    const took = Date.now() - started;
    assert.equal(out, { kind: 'delivered', status: 200 });
    assert.ok(took < 3_000, `took ${took} ms (the timeout is 10 s)`);
  } finally {
    r.server.closeAllConnections();
    r.server.close();
  }
});

test('a 500 with an endless body is a retry whose error holds the start of the body, at most ANSWER_BYTES of it read', async () => {
  const r = await endlessReceiver(500);
  try {
    const started = Date.now();
    const out = await postOnce(r.url, '{}', { 'content-type': 'application/json' }, 10_000);
    assert.ok(Date.now() - started < 3_000, 'answered before the timeout');
    assert.is(out.kind, 'retry');
    assert.ok(out.kind === 'retry' && out.status === 500 && out.error.startsWith('HTTP 500: xxx'), JSON.stringify(out).slice(0, 120));
    assert.ok(ANSWER_BYTES <= 64 * 1024);
  } finally {
    r.server.closeAllConnections();
    r.server.close();
  }
});

test('a 400 is refused, a 429 with Retry-After is a retry with its delay', async () => {
  const server = createServer((req, res) => {
    req.resume();
    if (req.url === '/bad') res.writeHead(400).end('no such shop');
    else res.writeHead(429, { 'retry-after': '2' }).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    assert.equal(await postOnce(`${base}/bad`, '{}', {}, 5_000), { kind: 'refused', status: 400, error: 'HTTP 400: no such shop' });
    assert.equal(await postOnce(`${base}/busy`, '{}', {}, 5_000), { kind: 'retry', status: 429, error: 'HTTP 429', retryAfterMs: 2_000 });
  } finally {
    server.close();
  }
});

test.run();
