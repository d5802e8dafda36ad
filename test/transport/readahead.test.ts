import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { produce } from '../../lib/producer/producer.js';
import { Keys } from '../../lib/redis/keys.js';
import { ok, type StageFactory } from '../../lib/worker/stage.js';
import { Worker } from '../../lib/worker/worker.js';
import { STAGES } from '../../stages/index.js';
import { FAST, stageThenStore } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs stage `probe` over 40 records in batches of 10. While it processes its third batch it
 * records how many entries its consumer has pending: 10 (only this batch) without read-ahead,
 * 20 when the next batch was already read while this one was being processed.
 */
async function pendingDuringThirdBatch(readAheadMs: number): Promise<number> {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  const raw = stageThenStore(pipeline, { name: 'probe', kind: 'probe' }, { ...FAST, batchSize: 10, readAheadMs });
  const lines = Array.from({ length: 40 }, (_, i) => JSON.stringify({ id: `r${i}`, title: `item ${i}` })).join('\n');
  await produce(redis, Readable.from([lines]), { stream: keys.stream('in'), source: 'test', maxRecordBytes: 65536 });
  let batches = 0;
  let seen = -1;
  const probe: StageFactory = () => ({
    kind: 'probe',
    async process(batch) {
      if (++batches === 3) {
        // Give a read-ahead time to land, then look at this consumer's pending entries.
        const deadline = Date.now() + 500;
        do {
          seen = ((await redis.xpending(keys.stream('in'), 'probe')) as [number])[0];
          if (seen > batch.length) break;
          await sleep(20);
        } while (Date.now() < deadline);
      }
      return batch.map(() => ok({ probed: true }));
    },
  });
  const config = resolveConfig(raw, 'test', { env: { REDIS_URL: server.url } });
  const workers = ['probe', 'store'].map((stage) => new Worker({ config, stage, stages: { ...STAGES, probe }, logger: silentLogger }));
  const runs = workers.map((w) => w.run());
  try {
    await waitFor('all stored', async () => (await redis.scard(keys.products)) === 40);
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await Promise.all(runs);
  }
  return seen;
}

test('after full, quick batches the next batch is read while one is processed; readAheadMs 0 turns it off', async () => {
  assert.is(await pendingDuringThirdBatch(10_000), 20, 'the fourth batch was delivered during the third');
  assert.is(await pendingDuringThirdBatch(0), 10, 'without read-ahead only the batch in hand is pending');
});

test.run();
