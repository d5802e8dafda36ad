/**
 * The autoscaler during a Redis outage (lib/ops/autoscaler.ts, AutoscalerOptions.timeoutMs): a
 * pass Redis does not answer is skipped at once, counted and logged, and no decision is taken on a
 * window the autoscaler did not watch. Its pass had waited in ioredis' offline queue (the
 * connection `pipeline up` gives it), silent, then scaled up on a streak begun before the outage.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Autoscaler } from '../../lib/ops/autoscaler.js';
import { resolveConfig } from '../../lib/config/load.js';
import { createLogger, silentLogger } from '../../lib/observe/logger.js';
import { memoryMetrics } from '../../lib/observe/metrics.js';
import { Connections } from '../../lib/redis/connections.js';
import { Keys } from '../../lib/redis/keys.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';

/** A one-stage pipeline `work` reading `in`, autoscaled 1..3 once its lag held at 5 or more for scaleUpAfterMs. */
function config(url: string, pipeline: string, scaleUpAfterMs: number) {
  const stage = { name: 'work', kind: 'preprocess', input: 'in', minWorkers: 1, maxWorkers: 3, scaleUpLag: 5, scaleUpAfterMs, autoscaleIntervalMs: 100 };
  return resolveConfig({ pipeline, input: 'in', stages: [stage], routes: { work: [{ to: 'out' }] }, streams: { terminal: ['out'] } }, 'test', {
    env: { REDIS_URL: url },
  });
}

/** Resolves true when `p` settles within `ms`, false when it is still waiting then. */
const settlesWithin = (p: Promise<unknown>, ms: number) => {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p.then(() => true), new Promise<boolean>((res) => (timer = setTimeout(() => res(false), ms)))]).finally(() => clearTimeout(timer));
};

test('timeoutMs defaults to the interval', () => {
  const c = config('redis://127.0.0.1:1', randomPipeline('ao'), 1000);
  const target = { count: () => 1, scale: () => {} };
  const a = new Autoscaler({ redis: {} as never, config: c, stages: ['work'], target, logger: silentLogger, metrics: memoryMetrics() });
  assert.equal([a.intervalMs, a.timeoutMs], [100, 100]);
});

test('Redis stopped: each pass is skipped within timeoutMs, counted (autoscale.errors) and logged; back up, the scale-up window starts over before it scales', async () => {
  const server = await startRedis({ appendonly: true });
  const admin = client(server.url);
  admin.on('error', () => {});
  const pipeline = randomPipeline('ao');
  const scaleUpAfterMs = 200;
  const c = config(server.url, pipeline, scaleUpAfterMs);
  // As `pipeline up` connects (startControlPlane): commands wait for the reconnect, never fail on their own.
  const connections = new Connections({ url: server.url, name: 'autoscale-test', logger: silentLogger, reconnectMaxMs: 200 });
  const metrics = memoryMetrics();
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ component: 'test' }, 'info', (l) => void lines.push(JSON.parse(l) as Record<string, unknown>));
  let workers = 1;
  const target = { count: () => workers, scale: (_: string, n: number) => void (workers = n) };
  const timeoutMs = 300;
  const autoscaler = new Autoscaler({ redis: connections.command(), config: c, stages: ['work'], target, logger, metrics, timeoutMs });
  const errors = () => metrics.records.filter((r) => r.name === 'autoscale.errors').length;
  try {
    const key = new Keys(pipeline).stream('in');
    await admin.xgroup('CREATE', key, 'work', '0', 'MKSTREAM');
    for (let i = 0; i < 20; i++) await admin.xadd(key, '*', 'k', `r${i}`);
    await autoscaler.runOnce();
    assert.is(workers, 1, 'the first pass with the lag high only starts the window');

    await server.stop('SIGTERM'); // its AOF keeps the backlog for the restart
    assert.ok(await settlesWithin(autoscaler.runOnce(), 5_000), 'the pass waited for Redis instead of failing');
    assert.is(errors(), 1);
    const logged = lines.filter((l) => l.event === 'autoscale.error');
    assert.is(logged.length, 1);
    assert.equal((logged[0]!.err as { name: string }).name, 'SampleTimeoutError');
    assert.is(logged[0]!.timeoutMs, timeoutMs);
    // The next pass does not queue behind the one still waiting: skipped at once.
    const t0 = Date.now();
    await autoscaler.runOnce();
    assert.ok(Date.now() - t0 < timeoutMs, 'skipped at once while the given-up pass still waits');
    assert.is(errors(), 2);
    assert.is(workers, 1, 'no decision while Redis is down');

    await server.start();
    await waitFor('Redis back', async () => (await admin.ping().catch(() => '')) === 'PONG', 15_000);
    // Once a pass is answered again (the given-up one's late answer is dropped), it holds: the lag
    // was high before and after the outage, not seen during it, so the window starts over.
    await waitFor('a pass answered', async () => {
      const before = errors();
      await autoscaler.runOnce();
      return errors() === before;
    });
    assert.is(workers, 1, 'scaled up on a window that spanned the outage');
    await waitFor('scaled up after a window watched whole', async () => (await autoscaler.runOnce(), workers === 2), 10_000, 50);
    assert.ok(lines.some((l) => l.event === 'autoscale.decision' && l.reason === 'lag_high'));
  } finally {
    await autoscaler.stop();
    await connections.close();
    admin.disconnect();
    await server.close();
  }
});

test.run();
