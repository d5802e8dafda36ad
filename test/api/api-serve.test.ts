import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { Keys } from '../../lib/redis/keys.js';
import { readStatus } from '../../lib/stream/status-value.js';
import { serveHost, servePort } from '../../scripts/commands/serve.js';
import { freePort } from '../../lib/redis/server.js';
import { BIN, exited, writeConfig } from '../helpers/pipeline.js';
import { randomPipeline, startRedis, waitFor } from '../helpers/redis.js';

const server = await startRedis();

/** `pipeline serve` as a child process; output collected. */
function serve(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [BIN, 'serve', ...args], {
    env: { ...process.env, REDIS_URL: server.url, API_TOKENS: '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return Object.assign(child, { output: () => out });
}
const portOf = (out: string) => Number(/"event":"api.listening"[^\n]*"port":(\d+)/.exec(out)?.[1] ?? 0);

test('no tokens: a loud warning and loopback only (another address is refused, naming API_TOKENS)', async () => {
  const config = writeConfig(randomPipeline());
  const refused = serve(['--config', config, '--host', '0.0.0.0', '--port', '0']);
  assert.is(await exited(refused), 1);
  assert.match(refused.output(), /API_TOKENS.*refusing to listen on 0\.0\.0\.0/);
  const local = serve(['--config', config, '--port', '0']);
  try {
    await waitFor('listening', () => portOf(local.output()) > 0, 20_000);
    assert.match(local.output(), /"event":"api.no_tokens"[^\n]*NO API TOKENS CONFIGURED/);
  } finally {
    local.kill('SIGTERM');
    await exited(local);
  }
});

test('env PORT and HOST: empty is unset (an empty PORT had served on a random port, an empty HOST been refused as "listen on "); a bad PORT is named as the variable, not --port', async () => {
  const config = writeConfig(randomPipeline());
  const bad = serve(['--config', config], { PORT: 'abc' });
  assert.is(await exited(bad), 1);
  assert.match(bad.output(), /^error: config error at PORT \(environment\): expected a port number, 0-65535, got "abc"$/m);
  const saved = { PORT: process.env.PORT, HOST: process.env.HOST };
  try {
    Object.assign(process.env, { PORT: '', HOST: '' });
    assert.equal([servePort(undefined), serveHost(undefined)], [8080, '127.0.0.1']);
    assert.equal([servePort('0'), serveHost('::1')], [0, '::1'], 'the options win');
  } finally {
    for (const [k, v] of Object.entries(saved))
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  }
  const port = await freePort();
  const empty = serve(['--config', config], { PORT: String(port), HOST: '' });
  try {
    await waitFor('listening', () => portOf(empty.output()) > 0, 20_000);
    assert.match(empty.output(), new RegExp(`"event":"api.listening"[^\n]*"host":"127\\.0\\.0\\.1","port":${port}`));
  } finally {
    empty.kill('SIGTERM');
    await exited(empty);
  }
});

test('graceful shutdown: SIGTERM answers the waiting enrich (202, not cut off), refuses new connections, exits 0; request ids in the log lines', async () => {
  const pipeline = randomPipeline();
  const config = writeConfig(pipeline);
  const token = 'submit-token-0123456789';
  const child = serve(['--config', config, '--port', '0'], { API_TOKENS: `admin:${token}` });
  try {
    await waitFor('listening', () => portOf(child.output()) > 0, 20_000);
    const base = `http://127.0.0.1:${portOf(child.output())}`;
    await waitFor('ready', async () => (await fetch(`${base}/readyz`)).status === 200, 10_000);
    const waiting = fetch(`${base}/v1/enrich?timeout_ms=30000`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-request-id': 'req-abc-1' },
      body: JSON.stringify({ id: 'g1', title: 't' }),
    });
    const redis = new Redis(server.url);
    await waitFor('the request submitted and waiting', async () => (await readStatus(redis, new Keys(pipeline).status('g1'))).s === 'queued', 10_000).finally(
      () => redis.disconnect(),
    );
    const t0 = Date.now();
    child.kill('SIGTERM');
    const r = await waiting;
    assert.is(r.status, 202);
    assert.equal(await r.json(), { id: 'g1', status: 'queued', stage: 'preprocess' });
    assert.ok(Date.now() - t0 < 10_000, 'answered at shutdown, not at its 30 s deadline');
    assert.is(await exited(child), 0, child.output());
    assert.ok(
      await fetch(`${base}/healthz`).then(
        () => false,
        () => true,
      ),
      'no longer accepting',
    );
    const line = child
      .output()
      .split('\n')
      .find((l) => l.includes('"event":"http.request"') && l.includes('/v1/enrich'));
    assert.ok(line, child.output());
    assert.match(line!, /"requestId":"req-abc-1"/);
    assert.match(line!, /"status":202/);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

test('a port in use: one error line, the console sampler never says Redis is unreachable (it did, at every start, while connecting)', async () => {
  const config = writeConfig(randomPipeline());
  const busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  try {
    const port = (busy.address() as { port: number }).port;
    const refused = serve(['--config', config, '--port', String(port)]);
    assert.is(await exited(refused), 1, refused.output());
    // One line that says where, why and which option moves it (it was a bare `listen EADDRINUSE: ...`).
    assert.match(
      refused.output(),
      new RegExp(
        `^error: cannot serve the HTTP API on 127\\.0\\.0\\.1:${port}: the port is in use .*: pick another with --port N or env PORT \\[listen EADDRINUSE: address already in use 127\\.0\\.0\\.1:${port}\\]$`,
        'm',
      ),
    );
    assert.not.match(refused.output(), /sample_error|unreachable|reconnecting/);
  } finally {
    busy.close();
  }
  // A healthy start: the first sample waits for the connection instead of failing on it.
  const ok = serve(['--config', config, '--port', '0']);
  try {
    await waitFor('listening', () => portOf(ok.output()) > 0, 20_000);
    const stats = `http://127.0.0.1:${portOf(ok.output())}/console/api/stats`;
    await waitFor('a console sample', async () => (await (await fetch(stats)).json()) !== null, 10_000);
    assert.not.match(ok.output(), /console\.sample_error/);
    // Fastify's own lines are structured too: its free text had been the event ("event":"Server listening at http://...").
    const names = ok
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => String((JSON.parse(l) as { event: unknown }).event));
    assert.ok(names.includes('api.listening'), ok.output());
    assert.equal(
      names.filter((n) => !/^[a-z][\w.]*$/.test(n)),
      [],
      'events that are not names',
    );
  } finally {
    ok.kill('SIGTERM');
    await exited(ok);
  }
});

test("the config's api section sets pipeline serve's limits (they were buildServer options only); an unknown key is refused naming it", async () => {
  const pipeline = randomPipeline();
  const config = writeConfig(pipeline, undefined, { api: { maxRecordsPerRequest: 2, enrichTimeoutMs: 300, retryAfterMaxSeconds: 5 } });
  const child = serve(['--config', config, '--port', '0']);
  try {
    await waitFor('listening', () => portOf(child.output()) > 0, 20_000);
    const base = `http://127.0.0.1:${portOf(child.output())}`;
    await waitFor('ready', async () => (await fetch(`${base}/readyz`)).status === 200, 10_000);
    const three = [1, 2, 3].map((i) => ({ id: `c${i}`, title: 't' }));
    const big = await fetch(`${base}/v1/products`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(three) });
    assert.is(big.status, 413);
    assert.match(((await big.json()) as { message: string }).message, /more than api\.maxRecordsPerRequest \(2\) records/);
    const t0 = Date.now();
    const e = await fetch(`${base}/v1/enrich`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'c9', title: 't' }),
    });
    assert.is(e.status, 202, 'no worker: answered at the configured enrichTimeoutMs');
    assert.ok(Date.now() - t0 < 5_000, `answered after ${Date.now() - t0} ms, not the default 10 s`);
  } finally {
    child.kill('SIGTERM');
    await exited(child);
  }
  const typo = serve(['--config', writeConfig(randomPipeline(), undefined, { api: { enrichTimeoutMS: 300 } }), '--port', '0']);
  assert.is.not(await exited(typo), 0);
  assert.match(typo.output(), /api\.enrichTimeoutMS.*unknown key/);
  const inverted = serve(['--config', writeConfig(randomPipeline(), undefined, { api: { retryAfterSeconds: 10, retryAfterMaxSeconds: 5 } }), '--port', '0']);
  assert.is.not(await exited(inverted), 0);
  assert.match(inverted.output(), /api\.retryAfterMaxSeconds/);
});

test.after(async () => {
  await server.stop();
});

test.run();
