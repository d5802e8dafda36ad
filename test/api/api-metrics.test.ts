/**
 * The HTTP API's request metrics, end to end: `pipeline serve` with STATSD_HOST set, a real Redis,
 * a real UDP listener. Requests by route pattern and status, their timing, and the records a
 * submission refused by reason (a backlog's 429, a 400's invalid records, a 202 taken in part,
 * a missing token): the API had sent no metric at all.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Keys } from '../../lib/redis/keys.js';
import { BIN, exited, FAST } from '../helpers/pipeline.js';
import { addEntries, randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';
import { listener, type Line } from '../helpers/statsd.js';

const { server, redis } = await redisForFile(test);
const statsd = await listener();
const TOKEN = 'submit-token-0123456789';
const READ = 'read-token-0123456789ab';

/** A rules-only config whose `validate` stage refuses new records past a lag of 3, read afresh by every request. */
function configFile(pipeline: string): string {
  const raw = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../config/rules-only.json'), 'utf8')) as { stages: { name: string; maxLag?: number }[] };
  raw.stages.find((s) => s.name === 'validate')!.maxLag = 3;
  const file = join(tmpdir(), `${pipeline}-config.json`);
  const api = { backpressureCacheMs: 0, backpressureStagesMs: 0, completionsBlockMs: 100 };
  writeFileSync(file, JSON.stringify({ ...raw, pipeline, defaults: FAST, api, metrics: { flushIntervalMs: 20 } }));
  return file;
}

/** `pipeline serve` sending StatsD to the test's listener. */
function serve(config: string) {
  // LOG_LEVEL info: the listening line is how the test learns the port (the test runner sets error).
  const env = {
    ...process.env,
    LOG_LEVEL: 'info',
    REDIS_URL: server.url,
    API_TOKENS: `submit:${TOKEN},read:${READ}`,
    STATSD_HOST: '127.0.0.1',
    STATSD_PORT: String(statsd.port),
  };
  const child = spawn(process.execPath, [BIN, 'serve', '--config', config, '--port', '0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return Object.assign(child, { output: () => out });
}
const portOf = (out: string) => Number(/"event":"api.listening"[^\n]*"port":(\d+)/.exec(out)?.[1] ?? 0);

/** The sum of `name`'s values over the lines whose tags include `tags`. */
const sum = (lines: Line[], name: string, tags: Record<string, string>) =>
  lines.filter((l) => l.name === name && Object.entries(tags).every(([k, v]) => l.tags[k] === v)).reduce((n, l) => n + l.value, 0);

test('pipeline serve counts requests by route pattern and status, times them, and counts refused records by the reason its answers give', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  const child = serve(configFile(pipeline));
  try {
    await waitFor('listening', () => portOf(child.output()) > 0, 20_000).catch((err: Error) => {
      throw new Error(`${err.message}; the server wrote: ${child.output().slice(-2000)}`);
    });
    const base = `http://127.0.0.1:${portOf(child.output())}`;
    const post = (url: string, body: unknown, auth = true) =>
      fetch(`${base}${url}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${TOKEN}` } : {}) },
        body: JSON.stringify(body),
      });
    const lines = statsd.lines;
    const from = lines.length;
    // 202: one record taken, one rejected for a blank id.
    const partial = await post('/v1/products', [
      { id: 'ok-1', title: 't' },
      { id: ' ', title: 't' },
    ]);
    assert.is(partial.status, 202, await partial.text());
    // 400: nothing valid in the body, two invalid records.
    const bad = await post('/v1/products', [{ title: 'no id' }, 7]);
    assert.is(bad.status, 400, await bad.text());
    // NDJSON, taken in part: each line refused under its own reason.
    const ndjson = await fetch(`${base}/v1/products`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson', authorization: `Bearer ${TOKEN}` },
      body: '{"id":"n1","title":"t"}\n{not json\n{"id":"n2"}\n',
    });
    assert.is(ndjson.status, 202, await ndjson.text());
    // 429: validate over its maxLag, a batch of 3 refused whole.
    await addEntries(redis, keys.stream('validate'), 5);
    const refused = await post(
      '/v1/products',
      [1, 2, 3].map((i) => ({ id: `b${i}`, title: 't' })),
    );
    const refusedBody = await refused.text();
    assert.is(refused.status, 429, refusedBody);
    assert.is((JSON.parse(refusedBody) as { error: string }).error, 'backlog');
    const enrich = await post('/v1/enrich?timeout_ms=100', { id: 'e1', title: 't' });
    assert.is(enrich.status, 429);
    // 401 without a token; a status read (an id in the path) and a path no route takes.
    assert.is((await post('/v1/products', { id: 'x', title: 't' }, false)).status, 401);
    assert.is((await fetch(`${base}/v1/products/secret-id-42`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 403);
    assert.is((await fetch(`${base}/no/such/path`)).status, 404);
    // An SSE stream (a hijacked reply, which Fastify's onResponse skips) counts when it closes.
    const ac = new AbortController();
    const events = await fetch(`${base}/v1/events`, { headers: { authorization: `Bearer ${READ}` }, signal: ac.signal });
    assert.is(events.status, 200);
    ac.abort();

    const seen = () => lines.slice(from);
    await waitFor('the request metrics', () => sum(seen(), 'api.requests', {}) >= 9, 10_000);
    const got = seen();
    const requests = (route: string, status: string) => sum(got, 'api.requests', { route, status, method: 'POST', pipeline });
    assert.is(requests('/v1/products', '202'), 2);
    assert.is(requests('/v1/products', '400'), 1);
    assert.is(requests('/v1/products', '429'), 1);
    assert.is(requests('/v1/products', '401'), 1);
    assert.is(requests('/v1/enrich', '429'), 1);
    assert.is(sum(got, 'api.requests', { route: '/v1/products/:id', method: 'GET', status: '403' }), 1);
    assert.is(sum(got, 'api.requests', { route: 'unmatched', method: 'GET', status: '404' }), 1);
    assert.is(sum(got, 'api.requests', { route: '/v1/events', method: 'GET', status: '200' }), 1);
    for (const l of got.filter((l) => l.name === 'api.requests')) assert.is(l.type, 'c');
    const timings = got.filter((l) => l.name === 'api.request_ms');
    assert.is(timings.length, 9, 'one timing per request');
    assert.ok(
      timings.every((l) => l.type === 'ms' && l.value >= 0 && l.tags.route && l.tags.method),
      JSON.stringify(timings),
    );
    const refusedBy = (route: string, reason: string) => sum(got, 'api.records_refused', { route, reason, pipeline });
    assert.is(refusedBy('/v1/products', 'invalid_record'), 4, 'one from each 202, two from the 400');
    assert.is(refusedBy('/v1/products', 'invalid_json'), 1);
    assert.is(refusedBy('/v1/products', 'backlog'), 3, 'the 429 refused a batch of 3');
    assert.is(refusedBy('/v1/enrich', 'backlog'), 1);
    assert.is(refusedBy('/v1/products', 'unauthorized'), 1);
    // Route patterns, methods, status and reason codes only: no id, no raw path in any tag.
    // The pipeline tag is left out: its random hex name may hold "b1".
    const tagValues = got.filter((l) => l.name.startsWith('api.')).flatMap((l) => Object.entries(l.tags).flatMap(([k, v]) => (k === 'pipeline' ? [] : [v])));
    assert.not.ok(
      tagValues.some((v) => /secret-id-42|no\/such|ok-1|b1/.test(v)),
      tagValues.join(' '),
    );
  } finally {
    child.kill('SIGTERM');
    await exited(child);
  }
});

test.after(async () => {
  statsd.socket.close();
});

test.run();
