/**
 * The supervisor with real child processes: a crash loop is logged as an error and never scaled
 * up; the `workers` gauge counts running processes (0 after a crash and after stop()).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import type { PipelineConfig } from '../../lib/config/types.js';
import { Autoscaler } from '../../lib/ops/autoscaler.js';
import { Supervisor } from '../../lib/ops/supervisor.js';
import { createLogger } from '../../lib/observe/logger.js';
import { memoryMetrics } from '../../lib/observe/metrics.js';
import { Keys } from '../../lib/redis/keys.js';
import { createSupervisor } from '../../scripts/commands/up.js';
import { FAST, oneStageToOut, writeConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);

function capture() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ component: 'test' }, 'info', (l) => lines.push(JSON.parse(l) as Record<string, unknown>));
  return { lines, logger };
}

/** A worker process that dies at once, as one whose init() throws. */
const crashing = () => spawn(process.execPath, ['-e', 'process.exit(3)'], { stdio: 'ignore' });

test('a worker crashing again and again: supervisor.crash_loop (error) after crashLoopAfter fast crashes', async () => {
  const { lines, logger } = capture();
  const supervisor = new Supervisor({ logger, spawn: crashing, restartBaseMs: 10, restartMaxMs: 20, crashLoopAfter: 3 });
  try {
    supervisor.scale('bad', 1);
    await waitFor('a crash loop reported', () => lines.some((l) => l.event === 'supervisor.crash_loop'), 20_000);
  } finally {
    await supervisor.stop();
  }
  const loop = lines.find((l) => l.event === 'supervisor.crash_loop')!;
  assert.equal([loop.level, loop.stage, loop.crashes, loop.code], ['error', 'bad', 3, 3]);
  assert.is(lines.filter((l) => l.event === 'supervisor.crashed').length >= 3, true);
});

test('the autoscaler adds no worker to a process that crashed lately, however high its lag (it had scaled a crash loop up)', async () => {
  const pipeline = randomPipeline('cl');
  const policy = { minWorkers: 1, maxWorkers: 3, scaleUpLag: 10, scaleUpAfterMs: 1, autoscaleIntervalMs: 50 };
  const config = resolveConfig(oneStageToOut(pipeline, 'whatever', { ...FAST, ...policy }), 'test', { env: { REDIS_URL: server.url } });
  const keys = new Keys(pipeline);
  for (let i = 0; i < 50; i++) await redis.xadd(keys.stream('in'), '*', 'k', `k${i}`, 'e', 'x');
  const { lines, logger } = capture();
  const supervisor = new Supervisor({ logger, spawn: crashing, restartBaseMs: 200, restartMaxMs: 400 });
  const autoscaler = new Autoscaler({ redis, config, stages: ['work'], target: supervisor, logger, metrics: memoryMetrics() });
  try {
    supervisor.scale('work', 1);
    await waitFor('a crash', () => supervisor.restarts >= 1, 10_000);
    for (let i = 0; i < 5; i++) await autoscaler.runOnce();
    assert.is(supervisor.count('work'), 1, 'scaled up a crashing process');
    assert.equal(
      lines.filter((l) => l.event === 'autoscale.decision'),
      [],
    );
  } finally {
    await supervisor.stop();
  }
});

test('the workers gauge: running processes per stage, 0 after a crash and after stop() (it had stayed at the last count)', async () => {
  const config = writeConfig(randomPipeline());
  const metrics = memoryMetrics();
  const { logger } = capture();
  // `nosuch` is no stage of the config: that worker exits 1 at start, a crash.
  const units = [
    { name: 'preprocess', stages: ['preprocess'] },
    { name: 'broken', stages: ['nosuch'] },
  ];
  const supervisor = createSupervisor({ configPath: config, env: { ...process.env, REDIS_URL: server.url }, stdio: 'ignore', metrics, units }, logger);
  const gauge = (stage: string) => metrics.records.filter((r) => r.name === 'workers' && r.tags.stage === stage).map((r) => r.value);
  try {
    supervisor.scale('preprocess', 1);
    supervisor.scale('broken', 1);
    await waitFor('the broken worker crashed', () => supervisor.restarts >= 1, 30_000);
    assert.equal(gauge('nosuch').slice(0, 2), [1, 0], 'a crashed worker is not running');
    assert.equal(gauge('preprocess'), [1]);
  } finally {
    await supervisor.stop();
  }
  assert.is(gauge('preprocess').at(-1), 0, 'after stop()');
  assert.is(gauge('nosuch').at(-1), 0, 'after stop()');
});

test('the workers gauge is sent again every workersGaugeIntervalMs for every stage of every unit, also one scaled to zero, until stop() (it was sent only on changes, so the exporter TTL dropped it)', async () => {
  const config = writeConfig(randomPipeline());
  const metrics = memoryMetrics();
  const { logger } = capture();
  const units = [
    { name: 'front', stages: ['preprocess', 'validate'] },
    { name: 'store', stages: ['store'] },
  ];
  const env = { ...process.env, REDIS_URL: server.url };
  const supervisor = createSupervisor({ configPath: config, env, stdio: 'ignore', metrics, units, workersGaugeIntervalMs: 50 }, logger);
  const sent = (stage: string) => metrics.records.filter((r) => r.name === 'workers' && r.tags.stage === stage).map((r) => r.value);
  try {
    supervisor.scale('front', 0);
    supervisor.scale('store', 0);
    await waitFor('three rounds', () => ['preprocess', 'validate', 'store'].every((st) => sent(st).length >= 3), 10_000);
    assert.ok(sent('store').every((v) => v === 0));
  } finally {
    await supervisor.stop();
  }
  const after = metrics.records.length;
  await new Promise((r) => setTimeout(r, 200));
  assert.is(metrics.records.length, after, 'nothing sent after stop()');
});

test("the config's supervisor section sets the restart backoff and crash-loop count of `up` / `start` workers (they were fixed at 500 ms / 5)", async () => {
  const file = writeConfig(randomPipeline(), FAST, { supervisor: { restartBaseMs: 20, restartMaxMs: 40, crashLoopAfter: 2 } });
  const config = resolveConfig(JSON.parse(readFileSync(file, 'utf8')) as PipelineConfig, file, { env: { REDIS_URL: server.url } });
  const { lines, logger } = capture();
  const units = [{ name: 'broken', stages: ['nosuch'] }];
  const env = { ...process.env, REDIS_URL: server.url };
  const supervisor = createSupervisor({ configPath: file, env, stdio: 'ignore', units, restart: config.supervisor }, logger);
  try {
    supervisor.scale('broken', 1);
    // With the defaults the second restart waits 500 + 1,000 ms and the loop is reported after 5 crashes.
    await waitFor('a crash loop reported', () => lines.some((l) => l.event === 'supervisor.crash_loop'), 20_000);
  } finally {
    await supervisor.stop();
  }
  const loop = lines.find((l) => l.event === 'supervisor.crash_loop')!;
  assert.is(loop.crashes, 2);
  const delays = lines.filter((l) => l.event === 'supervisor.crashed').map((l) => l.restartInMs);
  assert.ok(
    delays.every((d) => typeof d === 'number' && d <= 40),
    `restart delays ${JSON.stringify(delays)}`,
  );
});

test.run();
