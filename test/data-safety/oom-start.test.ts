import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createLogger } from '../../lib/observe/logger.js';
import { memoryMetrics } from '../../lib/observe/metrics.js';
import { loadLibrary } from '../../lib/redis/functions.js';
import { Keys } from '../../lib/redis/keys.js';
import { createGroup } from '../../lib/stream/consumer-group.js';
import { Worker } from '../../lib/worker/worker.js';
import { STAGES } from '../../stages/index.js';
import { FAST, rulesOnlyConfig } from '../helpers/pipeline.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';

const server = await startRedis({ settings: { 'maxmemory-policy': 'noeviction' } });
const redis = client(server.url);

/** A worker of `preprocess` whose log lines (parsed) and metrics the test reads, and whether run() failed. */
function startWorker(pipeline: string) {
  const config = rulesOnlyConfig(server.url, pipeline, { ...FAST, retryBaseMs: 10, retryMaxMs: 50 });
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({}, 'info', (line) => void lines.push(JSON.parse(line) as Record<string, unknown>));
  const metrics = memoryMetrics();
  const worker = new Worker({ config, stage: 'preprocess', stages: STAGES, logger, metrics });
  const state: { failed?: unknown } = {};
  const running = worker.run().catch((err: unknown) => void (state.failed = err));
  const events = (name: string) => lines.filter((l) => l.event === name);
  const count = (name: string) => metrics.records.filter((r) => r.name === name).reduce((n, r) => n + r.value, 0);
  return { config, worker, running, state, events, count };
}

const fill = () => redis.config('SET', 'maxmemory', '1'); // anything in use is over it: every write is refused with OOM
const empty = () => redis.config('SET', 'maxmemory', '0');

test('a worker started while Redis is full joins its existing group without a write and starts (before: XGROUP CREATE refused with OOM, the worker exited)', async () => {
  const pipeline = randomPipeline('of');
  await loadLibrary(redis); // what a worker that ran before left on the server
  await createGroup(redis, new Keys(pipeline).stream('in'), 'preprocess');
  await fill();
  const w = startWorker(pipeline);
  try {
    await waitFor('worker.started, or a failure', () => w.events('worker.started').length === 1 || w.state.failed !== undefined, 15_000);
    assert.is(w.state.failed, undefined, `the worker failed: ${String(w.state.failed)}`);
  } finally {
    await empty();
    await w.worker.stop();
    await w.running;
  }
});

test('a worker started while Redis is full and its group missing waits in place (redis.oom counted, one log line), then starts once memory is freed', async () => {
  const pipeline = randomPipeline('om');
  await fill();
  const w = startWorker(pipeline);
  try {
    await waitFor('OOM refusals counted', () => w.count('redis.oom') >= 3 || w.state.failed !== undefined, 15_000);
    assert.is(w.state.failed, undefined, `the worker failed: ${String(w.state.failed)}`);
    assert.is(w.events('worker.start_waiting').length, 1, 'the wait is logged once, not per try');
    assert.is(w.events('worker.start_waiting')[0]!.cause, 'redis_oom');
    assert.is(w.events('worker.started').length, 0, 'not reading while its group cannot be created');
    await empty();
    await waitFor('worker.started after memory is freed', () => w.events('worker.started').length === 1, 15_000);
    assert.is(w.events('worker.start_resumed').length, 1);
    const groups = (await redis.xinfo('GROUPS', new Keys(pipeline).stream('in'))) as unknown[][];
    assert.is(groups.length, 1, 'the group was created');
    assert.is(w.state.failed, undefined);
  } finally {
    await empty();
    await w.worker.stop();
    await w.running;
  }
});

test.after(async () => {
  await empty();
  redis.disconnect();
  await server.close();
});

test.run();
