import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createLogger } from '../../lib/observe/logger.js';
import { memoryMetrics } from '../../lib/observe/metrics.js';
import { Keys } from '../../lib/redis/keys.js';
import { Worker } from '../../lib/worker/worker.js';
import { STAGES } from '../../stages/index.js';
import { allowWrites, refuseWrites } from '../helpers/misconf.js';
import { FAST, rulesOnlyConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

/** A worker starting while Redis cannot persist (MISCONF) waits, as one starting while Redis is full does (test/data-safety/oom-start.test.ts). */
const { server, redis } = await redisForFile(test);

test('a worker started while Redis cannot persist (no Functions library, no group yet) waits in place (redis.misconf counted, one log line), then starts once a save succeeds (before: it exited)', async () => {
  const pipeline = randomPipeline('mc');
  const config = rulesOnlyConfig(server.url, pipeline, { ...FAST, retryBaseMs: 10, retryMaxMs: 50 });
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({}, 'info', (line) => void lines.push(JSON.parse(line) as Record<string, unknown>));
  const metrics = memoryMetrics();
  const events = (name: string) => lines.filter((l) => l.event === name);
  const count = (name: string) => metrics.records.filter((r) => r.name === name).reduce((n, r) => n + r.value, 0);
  await refuseWrites(redis); // FUNCTION LOAD and XGROUP CREATE are refused with MISCONF now
  const worker = new Worker({ config, stage: 'preprocess', stages: STAGES, logger, metrics });
  const state: { failed?: unknown } = {};
  const running = worker.run().catch((err: unknown) => void (state.failed = err));
  try {
    await waitFor('MISCONF refusals counted, or a failure', () => count('redis.misconf') >= 3 || state.failed !== undefined, 15_000);
    assert.is(state.failed, undefined, `the worker failed: ${String(state.failed)}`);
    assert.is(events('worker.start_waiting').length, 1, 'the wait is logged once, not per try');
    assert.is(events('worker.start_waiting')[0]!.cause, 'redis_misconf');
    assert.is(events('worker.started').length, 0, 'not reading while its group cannot be created');
    await allowWrites(redis);
    await waitFor('worker.started once writes are taken', () => events('worker.started').length === 1, 15_000);
    assert.is(events('worker.start_resumed').length, 1);
    assert.is(((await redis.xinfo('GROUPS', new Keys(pipeline).stream('in'))) as unknown[]).length, 1, 'the group was created');
    assert.is(state.failed, undefined);
  } finally {
    await allowWrites(redis);
    await worker.stop();
    await running;
  }
});

test.run();
