/**
 * The API server's close with clients that do not go (lib/api/connection-drain.ts), on a real
 * server, Redis and sockets: a connection with no request (a client pool's spare socket, a
 * preconnect), or only part of one's headers, is ended at once; an SSE stream is ended with its
 * last chunk; a request in flight is waited for at most `drainTimeoutMs`, then its connection is
 * closed and `api.drain_timeout` logged. Each of these had held `close()` (and SIGTERM's exit)
 * until the client went away.
 */
import { connect, type Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildServer } from '../../lib/api/server.js';
import type { ApiLimits } from '../../lib/api/options.js';
import { createLogger } from '../../lib/observe/logger.js';
import { rulesOnlyConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server } = await redisForFile(test);
const TOKEN = 'admin-token-0123456789a';
/** Longer than any close here should take: past it, close waited on a client. */
const NEVER_MS = 10_000;

async function listening(limits: Partial<ApiLimits> = {}) {
  const lines: Record<string, unknown>[] = [];
  const app = await buildServer({
    config: rulesOnlyConfig(server.url, randomPipeline()),
    tokens: [{ token: TOKEN, roles: ['admin'] }],
    logger: createLogger({ component: 'api' }, 'info', (line) => lines.push(JSON.parse(line) as Record<string, unknown>)),
    limits: { completionsBlockMs: 100, ...limits },
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, port: (app.server.address() as { port: number }).port, lines };
}

/** A raw client that sends `text` and never closes by itself; what it is sent, and whether the server ended it. */
async function rawClient(port: number, text: string) {
  const socket: Socket = connect(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  let received = '';
  let ended = false;
  socket.on('data', (d: Buffer) => (received += d.toString()));
  socket.on('close', () => (ended = true));
  socket.on('error', () => undefined);
  if (text) socket.write(text);
  return { socket, received: () => received, ended: () => ended };
}

/** 'closed', or 'waiting' when `close` had not resolved after NEVER_MS. */
async function closedWithin(close: Promise<unknown>, ms = NEVER_MS): Promise<'closed' | 'waiting'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([close.then(() => 'closed' as const), new Promise<'waiting'>((res) => (timer = setTimeout(() => res('waiting'), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

test('close ends a connection with no request, one with half its headers and an SSE stream at once, and an aborted fetch of a stream does not hold it', async () => {
  const { app, port } = await listening();
  const silent = await rawClient(port, '');
  const halfHeaders = await rawClient(port, 'GET /v1/events HTTP/1.1\r\nhost: x\r\n');
  const stream = await rawClient(port, `GET /v1/events HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${TOKEN}\r\n\r\n`);
  await waitFor('the stream open', () => stream.received().includes(': connected'), 5_000);
  // What had been seen: Node's fetch, aborted mid-stream, leaves its pool a connection that never sends a request.
  const ac = new AbortController();
  const res = await fetch(`http://127.0.0.1:${port}/v1/events`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: ac.signal });
  await res.body!.getReader().read();
  ac.abort();
  const clients = [silent, halfHeaders, stream];
  try {
    assert.is(await closedWithin(app.close()), 'closed', 'close did not wait for the clients to go');
    await waitFor('the server to end every client', () => clients.every((c) => c.ended()), 5_000);
    assert.match(stream.received(), /: connected\n\n\r\n0\r\n\r\n$/, 'the stream ended with its last chunk, not cut');
  } finally {
    for (const c of clients) c.socket.destroy();
    await app.close();
  }
});

test('a request in flight (a body never sent whole) is waited for drainTimeoutMs, then its connection closed, logged api.drain_timeout', async () => {
  const { app, port, lines } = await listening({ drainTimeoutMs: 300 });
  const head = `POST /v1/products HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${TOKEN}\r\ncontent-type: application/x-ndjson\r\ncontent-length: 1000\r\n\r\n`;
  const slow = await rawClient(port, `${head}{"id":"a1"`);
  // Its headers read: the request is in flight (the server waits for the rest of its body).
  await waitFor('the request in flight', () => new Promise<boolean>((r) => app.server.getConnections((_e, n) => r(n === 1))), 5_000);
  await new Promise((r) => setTimeout(r, 100));
  try {
    assert.is(await closedWithin(app.close()), 'closed', 'close did not wait for the body for ever');
    assert.ok(slow.ended(), 'its connection closed');
    const drained = lines.filter((l) => l.event === 'api.drain_timeout');
    assert.equal(
      drained.map((l) => [l.level, l.drainTimeoutMs, l.connections]),
      [['warn', 300, 1]],
    );
  } finally {
    slow.socket.destroy();
    await app.close();
  }
});

test.run();
