import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { produce } from '../../lib/producer/producer.js';
import { Keys } from '../../lib/redis/keys.js';
import { Worker } from '../../lib/worker/worker.js';
import { FAST, oneStageToOut, outageStage } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);

// A batch read ahead while the batch before it waits out an outage is this consumer's too: it must
// be kept claimed like the batch in flight, or a reclaimer takes it once it is claimMinIdleMs idle
// and each of its records loses a delivery to the outage (with maxDeliveries 2, one step from the
// dead-letter stream).
test('during an outage the batch read ahead is kept claimed with the one in flight: no delivery burned, nothing dead-lettered, all forwarded after', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  let down = false;
  // readAheadMs: every full batch reads the next one ahead; claimMinIdleMs far below the outage.
  const raw = oneStageToOut(pipeline, 'gate', {
    ...FAST,
    batchSize: 8,
    maxDeliveries: 2,
    readAheadMs: 60_000,
    claimMinIdleMs: 400,
    claimIntervalMs: 50,
    keepClaimedMs: 100,
  });
  const gate = outageStage('gate', () => down);
  const worker = new Worker({ config: resolveConfig(raw, 'test', { env: { REDIS_URL: server.url } }), stage: 'work', stages: { gate }, logger: silentLogger });
  const running = worker.run();
  const lines = (from: number, n: number) => Array.from({ length: n }, (_, i) => JSON.stringify({ id: `r${from + i}`, title: `t${from + i}` })).join('\n');
  const send = (from: number, n: number) =>
    produce(redis, Readable.from([lines(from, n)]), { stream: keys.stream('in'), source: 'test', maxRecordBytes: 65536 });
  try {
    // One quick batch first: read-ahead needs the last batch to have been quick.
    await send(0, 8);
    await waitFor('first batch forwarded', async () => (await redis.xlen(keys.stream('out'))) === 8);
    down = true;
    await send(8, 40);
    await waitFor('a batch in flight and one read ahead', async () => ((await redis.xpending(keys.stream('in'), 'work')) as [number])[0] === 16);
    await new Promise((r) => setTimeout(r, 1_500)); // several claimMinIdleMs
    const detail = (await redis.xpending(keys.stream('in'), 'work', '-', '+', 100)) as [string, string, number, number][];
    assert.is(detail.length, 16, 'the batch in flight and the one read ahead, nothing more read');
    assert.equal(
      detail.map(([, , , deliveries]) => deliveries),
      detail.map(() => 1),
      'no delivery burned by the outage',
    );
    down = false;
    await waitFor('all 48 forwarded', async () => (await redis.xlen(keys.stream('out'))) === 48, 15_000);
    assert.is(await redis.xlen(keys.dlq), 0, 'nothing dead-lettered');
    const ids = (await redis.xrange(keys.stream('out'), '-', '+')).map(([, f]) => f[f.indexOf('k') + 1]);
    assert.is(new Set(ids).size, 48, 'each record once');
  } finally {
    await worker.stop();
    await running;
  }
});

test.run();
