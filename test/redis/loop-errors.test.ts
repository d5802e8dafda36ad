/**
 * An error in a consumer's read loop that lasts (its stream key replaced by a string: WRONGTYPE on
 * every read; a permission taken away acts the same): logged and counted with a growing backoff,
 * and the loop goes on once the cause is gone.
 */
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createLogger } from '../../lib/observe/logger.js';
import { produce } from '../../lib/producer/producer.js';
import { Keys } from '../../lib/redis/keys.js';
import { Worker } from '../../lib/worker/worker.js';
import { STAGES } from '../../stages/index.js';
import { FAST, rulesOnlyConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);

test('a lasting loop error backs off (doubling to retryMaxMs) instead of being retried and logged every 100-200 ms; the loop resumes when it is gone', async () => {
  const pipeline = randomPipeline();
  const config = rulesOnlyConfig(server.url, pipeline, { ...FAST, retryBaseMs: 100, retryMaxMs: 800, claimMinIdleMs: 2000, blockMs: 100 });
  const keys = new Keys(pipeline);
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({}, 'info', (l) => lines.push(JSON.parse(l) as Record<string, unknown>));
  const worker = new Worker({ config, stage: 'preprocess', stages: STAGES, logger });
  const running = worker.run();
  try {
    await waitFor('worker started', () => lines.some((l) => l.event === 'worker.started'));
    await redis.del(keys.stream('in'));
    await redis.set(keys.stream('in'), 'not a stream');
    await new Promise((r) => setTimeout(r, 3_000));
    const errors = lines.filter((l) => l.event === 'consumer.loop_error');
    // 100, 200, 400, 800, 800 ... ms (jittered down to half): about 5-9 in 3 s; at a fixed 50-100 ms it was 30-60.
    assert.ok(errors.length >= 3 && errors.length <= 12, `${errors.length} loop errors in 3 s`);
    assert.equal(
      errors.slice(0, 3).map((e) => e.inARow),
      [1, 2, 3],
    );
    assert.match(JSON.stringify(errors.map((e) => e.err)), /WRONGTYPE/);
    // The cause gone, the loop goes on: the stream and its group back, records flow.
    await redis.del(keys.stream('in'));
    await produce(redis, Readable.from([JSON.stringify({ id: 'a1', title: 'after' })]), { stream: keys.stream('in'), source: 'test', maxRecordBytes: 65536 });
    await waitFor('the record handed on after recovery', async () => (await redis.xlen(keys.stream('store'))) > 0, 10_000);
    assert.ok(
      lines.some((l) => l.event === 'consumer.group_recreated'),
      'the group, gone with the key, was made again',
    );
  } finally {
    await worker.stop();
    await running;
  }
});

test.run();
