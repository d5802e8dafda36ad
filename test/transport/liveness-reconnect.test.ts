/**
 * The liveness marker after a reconnect (lib/worker/watchdog.ts, lib/redis/connections.ts
 * `onCommandBack`): a Redis without persistence restarted empty under a running worker lost the
 * worker's liveness marker with everything else. The watchdog writes it again as soon as its command
 * connection is back, not at its next tick, up to `watchdogIntervalMs` later: until then `pipeline
 * health` said "no progress marker ... the read loop stopped or made no progress" of a consumer
 * whose records were already flowing again (test/data-safety/data-loss.test.ts failed so under load).
 */
import { hostname } from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { consumerHealth, progressKey } from '../../lib/ops/consumer-health.js';
import { createLogger } from '../../lib/observe/logger.js';
import { COMMAND } from '../../lib/redis/connections.js';
import { consumerName, Keys } from '../../lib/redis/keys.js';
import { Worker } from '../../lib/worker/worker.js';
import { STAGES } from '../../stages/index.js';
import { FAST, rulesOnlyConfig } from '../helpers/pipeline.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';

/** The stage's `watchdogIntervalMs`: no tick of the watchdog falls within the test (the first marker is written by a check the test calls). */
const INTERVAL_MS = 60_000;
/** How long the worker's command connection may take to come back after the restart (jittered reconnect backoff, a loaded machine). */
const RECONNECT_MS = 30_000;
/** How soon after its command connection is back the marker must be there again: far less than INTERVAL_MS. */
const BACK_WITHIN_MS = 5_000;

test('a Redis restarted empty under a running worker has its liveness marker again as soon as the command connection is back, not a watchdogIntervalMs later', async () => {
  // No persistence (startRedis's default): a restart comes back empty.
  const server = await startRedis();
  const redis = client(server.url);
  redis.on('error', () => {}); // while the server restarts: it reconnects
  const pipeline = randomPipeline('lr');
  const config = rulesOnlyConfig(server.url, pipeline, { ...FAST, watchdogIntervalMs: INTERVAL_MS, aliveTtlMs: 2 * INTERVAL_MS });
  const keys = new Keys(pipeline);
  const marker = progressKey(keys, 'preprocess', consumerName(hostname(), process.pid, 0));
  const logs: string[] = [];
  const worker = new Worker({ config, stage: 'preprocess', stages: STAGES, logger: createLogger({}, 'info', (l) => logs.push(l)) });
  const run = worker.run();
  try {
    await waitFor('worker started', () => logs.some((l) => l.includes('"event":"worker.started"')), 30_000);
    const watchdog = worker.consumer.watchdog;
    // The first marker: a check now, as the first tick would do INTERVAL_MS after the start.
    await waitFor('the first liveness marker', async () => (watchdog.check(), (await redis.exists(marker)) === 1));
    const before = `${keys.tag}:test:before-restart`;
    await redis.set(before, '1');

    const restartedAt = Date.now();
    await server.restart('SIGKILL');
    assert.is(await redis.exists(before), 0, 'Redis came back empty (the liveness marker with the rest)');
    await waitFor('the worker’s command connection back', () => worker.connections.status(COMMAND) === 'ready', RECONNECT_MS);
    await waitFor('the liveness marker written again', async () => (await redis.exists(marker)) === 1, BACK_WITHIN_MS);
    const record = JSON.parse((await redis.get(marker))!) as { stage: string; at: number };
    assert.is(record.stage, 'preprocess');
    assert.ok(record.at >= restartedAt, `written after the restart: ${JSON.stringify(record)}`);
    const health = await consumerHealth(redis, config, 'preprocess', { host: hostname(), pid: process.pid });
    assert.is(health.ok, true, `health passes: ${JSON.stringify(health)}`);
  } finally {
    await worker.stop();
    await run;
    redis.disconnect();
    await server.close();
  }
});

test.run();
