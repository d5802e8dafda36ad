import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Autoscaler } from '../../lib/ops/autoscaler.js';
import { pairs, pipelineStatus } from '../../lib/ops/inspect.js';
import { resolveConfig } from '../../lib/config/load.js';
import { createLogger } from '../../lib/observe/logger.js';
import { memoryMetrics } from '../../lib/observe/metrics.js';
import { Keys } from '../../lib/redis/keys.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

// fsync always: with everysec a busy disk lets Redis postpone the AOF write past its reply, and a
// SIGKILL then loses what the test wrote (a CI run read lag 0: the entries gone, not the lag unknown).
const { server, redis } = await redisForFile(test, { appendonly: true, appendfsync: 'always' });
redis.on('error', () => {}); // the restart below drops it; it reconnects

/** A one-stage pipeline `work` reading `in`, autoscaled 1..3 on a lag of 5. */
function config(pipeline: string) {
  const stage = { name: 'work', kind: 'preprocess', input: 'in', minWorkers: 1, maxWorkers: 3, scaleUpLag: 5, scaleUpAfterMs: 1, autoscaleIntervalMs: 100 };
  return resolveConfig({ pipeline, input: 'in', stages: [stage], routes: { work: [{ to: 'out' }] }, streams: { terminal: ['out'] } }, 'test', {
    env: { REDIS_URL: server.url },
  });
}

/** The group's lag as XINFO GROUPS reports it (null: Redis cannot tell). */
const rawLag = async (key: string) => {
  const g = pairs(((await redis.xinfo('GROUPS', key)) as unknown[][])[0]!);
  return g.get('lag') === null ? null : Number(g.get('lag'));
};

test('after Redis restarts from its AOF the group lag Redis reports is nil; status counts it (marked estimated) and the autoscaler scales up on it (before: lag null, autoscaler held)', async () => {
  const pipeline = randomPipeline('lag');
  const c = config(pipeline);
  const key = new Keys(pipeline).stream('in');
  await redis.xgroup('CREATE', key, 'work', '0', 'MKSTREAM');
  for (let i = 0; i < 20; i++) await redis.xadd(key, '*', 'k', `r${i}`);
  await redis.xreadgroup('GROUP', 'work', 'c1', 'COUNT', 8, 'STREAMS', key, '>');
  await server.restart('SIGKILL');
  await waitFor('Redis back', async () => (await redis.ping().catch(() => '')) === 'PONG');
  assert.is(await rawLag(key), null, 'precondition: Redis reports no lag');
  const st = (await pipelineStatus(redis, c)).streams.find((s) => s.stage === 'work')!;
  assert.is(st.group!.lag, 12, 'the 12 entries after last-delivered-id');
  assert.is(st.group!.lagEstimated, true);
  const capped = (await pipelineStatus(redis, c, { lagEstimateCap: 5 })).streams.find((s) => s.stage === 'work')!;
  assert.is(capped.group!.lag, 5, 'bounded: at most lagEstimateCap entries are read');

  let workers = 1;
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({}, 'info', (l) => void lines.push(JSON.parse(l) as Record<string, unknown>));
  const target = { count: () => workers, scale: (_: string, n: number) => void (workers = n) };
  const autoscaler = new Autoscaler({ redis, config: c, stages: ['work'], target, logger, metrics: memoryMetrics() });
  // The first tick starts the lag-high window, a later one (past scaleUpAfterMs) steps up.
  await waitFor('scaled up on the counted backlog', async () => (await autoscaler.runOnce(), workers === 2), 5_000);
  assert.is(lines.filter((l) => l.event === 'autoscale.lag_unknown').length, 0);
});

test('autoscale.lag_unknown is logged once while the lag stays unknown', async () => {
  const pipeline = randomPipeline('unk');
  const c = config(pipeline);
  const key = new Keys(pipeline).stream('in');
  await redis.xgroup('CREATE', key, 'work', '0', 'MKSTREAM');
  for (let i = 0; i < 3; i++) await redis.xadd(key, '*', 'k', `r${i}`);
  const [id] = (await redis.xrange(key, '-', '+'))[1]!;
  await redis.xdel(key, id); // a deletion after last-delivered-id: Redis cannot tell the lag
  assert.is(await rawLag(key), null, 'precondition: Redis reports no lag');
  let workers = 1;
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({}, 'info', (l) => void lines.push(JSON.parse(l) as Record<string, unknown>));
  const target = { count: () => workers, scale: (_: string, n: number) => void (workers = n) };
  // No estimate (cap 0 is what a status without XRANGE gets): the lag stays unknown.
  const autoscaler = new Autoscaler({ redis, config: c, stages: ['work'], target, logger, metrics: memoryMetrics(), lagEstimateCap: 0 });
  await autoscaler.runOnce();
  await autoscaler.runOnce();
  assert.is(workers, 1, 'holds');
  assert.is(lines.filter((l) => l.event === 'autoscale.lag_unknown').length, 1, 'said once');
});

test.run();
