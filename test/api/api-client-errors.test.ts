/**
 * What Node's HTTP server answers before or beside a route (lib/api/client-errors.ts): a body or
 * headers not received within `requestTimeoutMs`, bytes that are not HTTP. Each is answered in the
 * API's shape with a request id and the security headers, logged as `http.client_error` with that
 * id, and counted in `api.requests`; a body cut off by the timeout is a 408 of its route, not the
 * client's abort. A client's long path or header is repeated in answers and log lines cut short.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect } from 'node:net';
import { createLogger } from '../../lib/observe/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import { listeningApi } from '../helpers/api-server.js';
import { rulesOnlyConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);
const config = rulesOnlyConfig(server.url, randomPipeline('client-errors'));
const keys = new Keys(config.pipeline);
const TOKEN = 'admin-token-0123456789';
const lines: string[] = [];
const { app, base } = await listeningApi(config, TOKEN, {
  limits: { requestTimeoutMs: 1_000 },
  logger: createLogger({ component: 'api' }, 'info', (l) => lines.push(l)),
});
const port = Number(new URL(base).port);
test.after(async () => {
  await app.close();
});

/** Write `text` on a new connection and read until the server closes it (at most 5 s). */
function exchange(text: string): Promise<{ head: string; headers: Record<string, string>; body: unknown }> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let out = '';
    const timer = setTimeout(() => s.destroy(), 5_000);
    s.on('data', (d) => (out += d.toString()));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      const [top = '', body = ''] = out.split('\r\n\r\n');
      const [head = '', ...rest] = top.split('\r\n');
      const headers = Object.fromEntries(rest.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      try {
        resolve({ head, headers, body: JSON.parse(body) as unknown });
      } catch {
        reject(new Error(`not a JSON answer: ${JSON.stringify(out)}`));
      }
    });
    s.write(text);
  });
}

const logged = (id: string) => lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.event === 'http.client_error' && l.requestId === id);
const counted = async (labels: string) =>
  (await app.pipeline.requestMetrics.metrics()).split('\n').find((l) => l.startsWith(`pipeline_api_requests_total{${labels}`));

test('a body not received within requestTimeoutMs: 408 in the API shape with the request id, logged with it, counted as its route 408 (was "aborted"); nothing taken', async () => {
  const r = await exchange(
    `POST /v1/products HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"id":"slow-1",`,
  );
  assert.is(r.head, 'HTTP/1.1 408 Request Timeout');
  assert.equal(r.body, { error: 'request_timeout', message: 'the request was not received whole within api.requestTimeoutMs (1000 ms)' });
  assert.is(r.headers['x-content-type-options'], 'nosniff');
  const id = r.headers['x-request-id']!;
  assert.match(id, /^req-/);
  assert.equal(logged(id), { ...logged(id), level: 'info', status: 408, code: 'ERR_HTTP_REQUEST_TIMEOUT', method: 'POST', url: '/v1/products' });
  assert.not.ok(
    lines.some((l) => l.includes('api.client_aborted')),
    'not logged as the client leaving',
  );
  assert.match((await counted('route="/v1/products",method="POST",status="408"')) ?? '', / 1$/);
  assert.not.ok(await counted('route="/v1/products",method="POST",status="aborted"'));
  assert.is(await redis.exists(keys.stream(config.input)), 0, 'nothing taken');
});

test('headers not received in time, and bytes that are not HTTP: 408 and 400 naming why, each logged with a request id and counted', async () => {
  const slow = await exchange('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
  assert.is(slow.head, 'HTTP/1.1 408 Request Timeout');
  assert.is((slow.body as { error: string }).error, 'request_timeout');
  assert.ok(logged(slow.headers['x-request-id']!), 'logged with its id');
  const bad = await exchange('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header: y\r\n\r\n');
  assert.is(bad.head, 'HTTP/1.1 400 Bad Request');
  assert.equal(bad.body, { error: 'bad_request', message: 'the request is not valid HTTP (HPE_INVALID_HEADER_TOKEN)' });
  assert.is(logged(bad.headers['x-request-id']!)?.code, 'HPE_INVALID_HEADER_TOKEN');
  assert.match((await counted('route="unmatched",method="unknown",status="408"')) ?? '', / 1$/);
  assert.match((await counted('route="unmatched",method="unknown",status="400"')) ?? '', / 1$/);
  // A body whose chunked framing breaks half-way: its own request's 400, counted under its route (not as the client's abort).
  const chunked = await exchange(
    `POST /v1/products HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n[{"id\r\nZZ\r\n`,
  );
  assert.is(chunked.head, 'HTTP/1.1 400 Bad Request');
  assert.equal(chunked.body, { error: 'bad_request', message: 'the request is not valid HTTP (HPE_INVALID_CHUNK_SIZE)' });
  assert.equal(logged(chunked.headers['x-request-id']!), { ...logged(chunked.headers['x-request-id']!), method: 'POST', url: '/v1/products' });
  assert.match((await counted('route="/v1/products",method="POST",status="400"')) ?? '', / 1$/);
  assert.not.ok(await counted('route="/v1/products",method="POST",status="aborted"'));
  // The server goes on.
  assert.is((await fetch(`${base}/healthz`)).status, 200);
});

test("a client's long path or Last-Event-ID is repeated in answers and log lines cut at 200 characters (a 12 kB path had been sent back and logged whole)", async () => {
  const long = 'a'.repeat(12_000);
  const cut = `/v1/${'a'.repeat(196)}... (11804 more characters)`;
  const headers = { authorization: `Bearer ${TOKEN}`, 'x-request-id': 'long-path-1' };
  const notFound = await fetch(`${base}/v1/${long}`, { headers });
  assert.is(notFound.status, 404);
  assert.equal(await notFound.json(), { error: 'not_found', message: `no route GET ${cut}` });
  const line = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.event === 'http.request' && l.requestId === 'long-path-1');
  assert.is(line?.url, cut);
  const events = await fetch(`${base}/v1/events`, { headers: { ...headers, 'last-event-id': `${'1'.repeat(8_000)}-0` } });
  assert.is(events.status, 400);
  const message = ((await events.json()) as { message: string }).message;
  assert.ok(message.length < 700, `${message.length} characters: ${message.slice(0, 300)}`);
  assert.match(
    message,
    /^Last-Event-ID "1{200}\.\.\. \(7802 more characters\)": each part of a stream id is below 2\^64 \(1{200}\.\.\. \(7802 more characters\)\)$/,
  );
});

test.run();
