/**
 * `Webhooks.stop` (lib/webhooks/runner.ts) ends in bounded time whatever Redis does: SIGTERM must
 * stop `pipeline webhooks` while Redis is down or silent. Before: stop sent each consumer's leave
 * (delete-idle-consumer-1.lua) on a connection that queues commands until Redis is back, and
 * waited for the answers, so it never returned while Redis was down. And a stop while a delivery
 * trimmed from `{p}:done` was in retry (so nowhere else any more) counts it missed.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { memoryMetrics } from '../../lib/observe/metrics.js';
import { Keys } from '../../lib/redis/keys.js';
import { recordCompletions } from '../../lib/stream/done.js';
import { Webhooks } from '../../lib/webhooks/runner.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';
import { receiver } from '../helpers/webhook-receiver.js';

const BLOCK_MS = 200;

/** How long `p` took, or undefined when it had not settled within `ms` (the test must not hang). */
async function timed(p: Promise<unknown>, ms: number): Promise<number | undefined> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const done = await Promise.race([p.then(() => true), new Promise<false>((res) => (timer = setTimeout(() => res(false), ms)))]);
  clearTimeout(timer);
  return done ? Date.now() - started : undefined;
}

for (const how of ['down (killed)', 'silent (CLIENT PAUSE)'] as const) {
  test(`stop ends in bounded time while Redis is ${how}`, async () => {
    const server = await startRedis();
    const config = resolveConfig(
      {
        pipeline: randomPipeline('whs'),
        stages: [{ name: 'store', kind: 'store', input: 'in' }],
        routes: {},
        webhooks: [{ name: 'app', url: 'http://127.0.0.1:9/', secretEnv: 'HOOK_SECRET', blockMs: BLOCK_MS }],
      },
      'test',
      { env: { REDIS_URL: server.url } },
    );
    const hooks = new Webhooks({ config, secrets: new Map([['app', 's']]), logger: silentLogger, metrics: memoryMetrics() });
    try {
      await hooks.ready();
      hooks.start();
      await new Promise((res) => setTimeout(res, 3 * BLOCK_MS)); // reading
      if (how === 'down (killed)') await server.stop('SIGKILL');
      else {
        const admin = client(server.url);
        await admin.client('PAUSE', 10_000, 'ALL'); // every other client's commands wait
        admin.disconnect();
      }
      await new Promise((res) => setTimeout(res, 100));
      // The reads end within blockMs (+ 500 ms for the reply's trip), the leave within blockMs, each close within 1 s.
      const took = await timed(hooks.stop(), 8_000);
      assert.ok(took !== undefined, 'stop had not returned after 8 s');
      assert.ok(took < 2 * BLOCK_MS + 500 + 1_000 + 1_000, `stop took ${took} ms`);
    } finally {
      await hooks.stop(); // (the same stop) when a wait above failed
      await server.close();
    }
  });
}

test('a stop while an entry trimmed from {p}:done is in retry counts it missed (it is nowhere else any more)', async () => {
  const server = await startRedis();
  const redis = client(server.url);
  const rx = await receiver(() => 503).catch(async (err: unknown) => {
    redis.disconnect();
    await server.close();
    throw err;
  });
  const pipeline = randomPipeline('whs');
  const hook = {
    name: 'app',
    url: rx.url,
    secretEnv: 'HOOK_SECRET',
    blockMs: BLOCK_MS,
    timeoutMs: 2_000,
    backoffBaseMs: 200,
    backoffMaxMs: 400,
    claimMinIdleMs: 5_000,
  };
  const config = resolveConfig({ pipeline, stages: [{ name: 'store', kind: 'store', input: 'in' }], routes: {}, webhooks: [hook] }, 'test', {
    env: { REDIS_URL: server.url },
  });
  const metrics = memoryMetrics();
  const count = (name: string) => metrics.records.filter((r) => r.name === name).reduce((a, r) => a + r.value, 0);
  const hooks = new Webhooks({ config, secrets: new Map([['app', 's']]), logger: silentLogger, metrics });
  try {
    await hooks.ready();
    hooks.start();
    const keys = new Keys(pipeline);
    await recordCompletions(redis, keys, [{ key: 'm0', status: 'stored', stage: 'store' }], { maxLen: 1000, statusTtlMs: 60_000 });
    await waitFor('retrying', () => count('webhooks.retries') >= 1);
    await redis.xtrim(keys.done, 'MAXLEN', 0);
    await waitFor('its next retry found it trimmed', () => rx.received.length >= 3);
    await hooks.stop();
    assert.is(hooks.stop(), hooks.stop(), 'a second stop is the first one');
    assert.is(count('webhooks.missed'), 1);
  } finally {
    await hooks.stop(); // (the same stop) when a wait above failed: its readers would retry against the closed server until the file timed out
    redis.disconnect();
    await rx.close();
    await server.close();
  }
});

test.run();
