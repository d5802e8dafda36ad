import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Autoscaler, decide, type ScalePolicy, type ScaleState } from '../../lib/ops/autoscaler.js';
import { encodeEnvelope, newEnvelope } from '../../lib/stream/codec.js';
import { loadConfigFile, resolveConfig } from '../../lib/config/load.js';
import { progressKey } from '../../lib/ops/consumer-health.js';
import { pipelineStatus } from '../../lib/ops/inspect.js';
import { createLogger } from '../../lib/observe/logger.js';
import { memoryMetrics } from '../../lib/observe/metrics.js';
import { consumerName, Keys } from '../../lib/redis/keys.js';
import { Supervisor } from '../../lib/ops/supervisor.js';
import { pauseStages, resumeStages } from '../../lib/ops/pause.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const policy: ScalePolicy = { minWorkers: 1, maxWorkers: 3, scaleUpLag: 100, scaleUpAfterMs: 1000, scaleDownIdleMs: 5000 };

test('decide: adds one worker only after the lag held above the threshold for scaleUpAfterMs, then one per window', () => {
  const st: ScaleState = {};
  assert.equal(decide(policy, st, { lag: 500, pending: 10, workers: 1 }, 0), { to: 1, reason: 'hold' });
  assert.equal(decide(policy, st, { lag: 500, pending: 10, workers: 1 }, 999), { to: 1, reason: 'hold' });
  assert.equal(decide(policy, st, { lag: 500, pending: 10, workers: 1 }, 1000), { to: 2, reason: 'lag_high' });
  assert.equal(decide(policy, st, { lag: 500, pending: 10, workers: 2 }, 1500), { to: 2, reason: 'hold' }, 'a new window starts after each step');
  assert.equal(decide(policy, st, { lag: 500, pending: 10, workers: 2 }, 2000), { to: 3, reason: 'lag_high' });
  assert.equal(decide(policy, st, { lag: 9999, pending: 10, workers: 3 }, 9000), { to: 3, reason: 'hold' }, 'never above max');
});

test('decide: a dip below the threshold restarts the scale-up window', () => {
  const st: ScaleState = {};
  decide(policy, st, { lag: 500, pending: 0, workers: 1 }, 0);
  decide(policy, st, { lag: 50, pending: 0, workers: 1 }, 800);
  assert.equal(decide(policy, st, { lag: 500, pending: 0, workers: 1 }, 1200), { to: 1, reason: 'hold' });
  assert.equal(decide(policy, st, { lag: 500, pending: 0, workers: 1 }, 2200), { to: 2, reason: 'lag_high' });
});

test('decide: removes one worker per idle window, never below min, and holds on unknown lag', () => {
  const st: ScaleState = {};
  assert.equal(decide(policy, st, { lag: 0, pending: 3, workers: 3 }, 0).to, 3);
  assert.equal(decide(policy, st, { lag: 0, pending: 3, workers: 3 }, 5000), { to: 2, reason: 'idle' });
  assert.equal(decide(policy, st, { lag: 0, pending: 0, workers: 2 }, 6000).to, 2);
  assert.equal(decide(policy, st, { lag: 0, pending: 0, workers: 2 }, 10_000), { to: 1, reason: 'idle' });
  assert.equal(decide(policy, st, { lag: 0, pending: 0, workers: 1 }, 60_000), { to: 1, reason: 'hold' }, 'never below min');
  const unknown: ScaleState = {};
  decide(policy, unknown, { lag: 0, pending: 0, workers: 2 }, 0);
  assert.equal(decide(policy, unknown, { lag: null, pending: 0, workers: 2 }, 4000).reason, 'hold');
  assert.equal(decide(policy, unknown, { lag: 0, pending: 0, workers: 2 }, 6000).reason, 'hold', 'unknown lag broke the idle streak');
});

test('decide: scale to zero and back: one waiting message wakes the stage, the last worker waits for pending to drain', () => {
  const zero: ScalePolicy = { ...policy, minWorkers: 0 };
  const st: ScaleState = {};
  assert.equal(decide(zero, st, { lag: 1, pending: 0, workers: 0 }, 0), { to: 1, reason: 'wake' });
  assert.equal(decide(zero, st, { lag: 0, pending: 2, workers: 0 }, 0), { to: 1, reason: 'wake' }, 'orphaned pending entries need a worker to be reclaimed');
  decide(zero, st, { lag: 0, pending: 1, workers: 1 }, 10_000);
  assert.equal(decide(zero, st, { lag: 0, pending: 1, workers: 1 }, 20_000).to, 1, 'not while its batch is pending');
  assert.equal(decide(zero, st, { lag: 0, pending: 0, workers: 1 }, 20_001), { to: 0, reason: 'idle' });
  assert.equal(decide(policy, {}, { lag: 0, pending: 0, workers: 0 }, 0), { to: 1, reason: 'below_min' });
  assert.equal(decide(policy, {}, { lag: 0, pending: 0, workers: 5 }, 0), { to: 3, reason: 'above_max' });
});

const { server, redis } = await redisForFile(test);
const FIXTURE = resolve(import.meta.dirname, '../fixtures/slow-worker.ts');

test('a burst on a slow stage scales it up to max on lag, then back to min when idle; retired workers drain (nothing lost or done twice)', async () => {
  const pipeline = randomPipeline('as');
  const keys = new Keys(pipeline);
  const N = 400;
  const configPath = join(tmpdir(), `${pipeline}-autoscale.json`);
  writeFileSync(
    configPath,
    JSON.stringify({
      pipeline,
      input: 'in',
      defaults: { blockMs: 100, claimIntervalMs: 200, claimMinIdleMs: 60_000, keepClaimedMs: 500, drainTimeoutMs: 10_000 },
      stages: [
        {
          name: 'slow',
          kind: 'slow',
          input: 'in',
          settings: { delayMs: 100 },
          batchSize: 5,
          minWorkers: 1,
          maxWorkers: 3,
          scaleUpLag: 50,
          scaleUpAfterMs: 400,
          scaleDownIdleMs: 1500,
          autoscaleIntervalMs: 100,
        },
      ],
      routes: {},
    }),
  );
  const config = loadConfigFile(configPath, { env: { REDIS_URL: server.url } });
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ component: 'test' }, 'info', (l) => lines.push(JSON.parse(l) as Record<string, unknown>));
  const metrics = memoryMetrics();
  const exits: { code: number | null; signal: string | null }[] = [];
  let maxSeen = 0;
  const supervisor: Supervisor = new Supervisor({
    logger,
    killAfterMs: 20_000,
    spawn: () =>
      spawn(process.execPath, ['--import', 'tsx', FIXTURE, configPath, 'slow'], {
        stdio: ['ignore', 'ignore', 'inherit'],
        env: { ...process.env, REDIS_URL: server.url, LOG_LEVEL: 'error' },
      }),
    onEvent: (event, _stage, _pid, exit) => {
      if (exit) exits.push(exit);
      maxSeen = Math.max(maxSeen, supervisor.count('slow'));
    },
  });
  const autoscaler = new Autoscaler({ redis, config, stages: ['slow'], target: supervisor, logger, metrics });
  try {
    supervisor.scale('slow', 1);
    // Reading: its watchdog's progress key is alive (Redis lists a consumer only after its first delivery).
    const [pid] = supervisor.pids('slow');
    await waitFor('the first worker reads', async () => (await redis.exists(progressKey(keys, 'slow', consumerName(hostname(), pid!, 0)))) === 1, 30_000);
    autoscaler.start();
    const batch = redis.pipeline();
    for (let i = 0; i < N; i++) {
      const env = newEnvelope({ id: `b${i}`, title: `burst ${i}` });
      batch.xadd(keys.stream('in'), '*', 'k', env.key, 'e', encodeEnvelope(env));
    }
    await batch.exec();
    await waitFor('scaled up to max', () => supervisor.count('slow') === 3, 30_000);
    await waitFor('the burst is processed', async () => (await redis.hlen(keys.extra('seen'))) === N, 60_000);
    await waitFor('scaled back down to min', () => supervisor.count('slow') === 1 && supervisor.pids('slow').length === 1, 30_000);
    await new Promise((r) => setTimeout(r, 2 * 1500 + 500));
    assert.is(supervisor.count('slow'), 1, 'stays at min when idle');
  } finally {
    await autoscaler.stop();
    await supervisor.stop();
  }
  assert.is(maxSeen, 3, 'never above maxWorkers');
  const decisions = lines.filter((l) => l.event === 'autoscale.decision');
  assert.equal(
    decisions.map((d) => [d.from, d.to, d.reason]),
    [
      [1, 2, 'lag_high'],
      [2, 3, 'lag_high'],
      [3, 2, 'idle'],
      [2, 1, 'idle'],
    ],
  );
  const counted = metrics.records.filter((r) => r.name === 'autoscale.decisions').map((r) => r.tags.direction);
  assert.equal(counted, ['up', 'up', 'down', 'down']);
  assert.equal(
    exits.map((e) => e.code),
    [0, 0, 0],
    'every worker (2 retired, 1 stopped) drained and exited 0',
  );
  const seen = await redis.hgetall(keys.extra('seen'));
  assert.is(Object.keys(seen).length, N, 'every message processed');
  assert.equal(
    Object.values(seen).filter((n) => n !== '1'),
    [],
    'no message processed twice',
  );
  const st = (await pipelineStatus(redis, config)).streams[0]!;
  assert.equal([st.group?.lag, st.group?.pending], [0, 0]);
});

test('autoscale.decisions of a process of several stages is counted under each of its stages (it was tagged with the process name, no stage)', async () => {
  const pipeline = randomPipeline('ap');
  const policy = { minWorkers: 0, maxWorkers: 2, autoscaleIntervalMs: 50 };
  const config = resolveConfig(
    {
      pipeline,
      input: 'in',
      streams: { terminal: ['out'] },
      stages: [
        { name: 'first', kind: 'any', input: 'in', process: 'both', ...policy },
        { name: 'second', kind: 'any', input: 'mid', process: 'both', ...policy },
      ],
      routes: { first: [{ to: 'mid' }], second: [{ to: 'out' }] },
    },
    'test',
    { env: { REDIS_URL: server.url } },
  );
  await redis.xadd(new Keys(pipeline).stream('in'), '*', 'k', 'k1', 'e', 'x');
  const scaled: [string, number][] = [];
  const target = { count: () => 0, scale: (unit: string, n: number) => void scaled.push([unit, n]) };
  const metrics = memoryMetrics();
  const logger = createLogger({ component: 'test' }, 'error', () => {});
  const autoscaler = new Autoscaler({ redis, config, stages: ['first', 'second'], units: config.processes, target, logger, metrics });
  await autoscaler.runOnce();
  assert.equal(scaled, [['both', 1]], 'the process woke from zero');
  const tags = metrics.records.filter((r) => r.name === 'autoscale.decisions').map((r) => [r.tags.stage, r.tags.direction]);
  assert.equal(tags, [
    ['first', 'up'],
    ['second', 'up'],
  ]);
});

test('a paused stage (`pipeline pause`) is not scaled up on its growing lag, nor woken from zero; resumed, it is', async () => {
  const pipeline = randomPipeline('apz');
  const policy = { minWorkers: 0, maxWorkers: 2, autoscaleIntervalMs: 50, scaleUpLag: 1, scaleUpAfterMs: 1000 };
  const config = resolveConfig(
    {
      pipeline,
      input: 'in',
      streams: { terminal: ['out'] },
      stages: [{ name: 'only', kind: 'any', input: 'in', ...policy }],
      routes: { only: [{ to: 'out' }] },
    },
    'test',
    { env: { REDIS_URL: server.url } },
  );
  for (let i = 0; i < 5; i++) await redis.xadd(new Keys(pipeline).stream('in'), '*', 'k', `k${i}`, 'e', 'x');
  let workers = 0;
  const scaled: number[] = [];
  const target = { count: () => workers, scale: (_unit: string, n: number) => void scaled.push((workers = n)) };
  const logger = createLogger({ component: 'test' }, 'error', () => {});
  let clock = 0;
  const tick = () => autoscaler.runOnce().then(() => void (clock += 1000)); // a pass, then a whole scale-up window later
  const autoscaler = new Autoscaler({ redis, config, stages: ['only'], target, logger, metrics: memoryMetrics(), now: () => clock });
  await pauseStages(redis, config, 'only', { by: 'test' });
  await tick();
  assert.equal(scaled, [], 'paused at zero: not woken');
  workers = 1;
  for (let i = 0; i < 3; i++) await tick();
  assert.equal(scaled, [], 'paused with a lag above scaleUpLag for three windows: not scaled up');
  await resumeStages(redis, config, 'only');
  await tick();
  await tick();
  assert.equal(scaled, [2], 'resumed: scaled up on the lag after a window');
});

test.run();
