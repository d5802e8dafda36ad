import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isIdle, pipelineStatus } from '../../lib/ops/inspect.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { produce } from '../../lib/producer/producer.js';
import { isLivenessMarker, Keys } from '../../lib/redis/keys.js';
import { Worker } from '../../lib/worker/worker.js';
import { STAGES } from '../../stages/index.js';
import { FAST, rulesOnlyConfig, stopAll } from '../helpers/pipeline.js';
import { assertStoredOnce, countingMetrics } from '../helpers/outage-records.js';
import { client, randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test, { settings: { 'maxmemory-policy': 'noeviction' } });

const oomRejections = async () => Number(/errorstat_OOM:count=(\d+)/.exec(await redis.info('errorstats'))?.[1] ?? 0);

test('Redis full (maxmemory + noeviction) while producing and storing: the producer and every stage wait, then after the limit is lifted every record is stored once and nothing is dead-lettered', async () => {
  // Few deliveries and fast retries: before the fix, OOM in the store cost a delivery per try and
  // dead-lettered good records within a fraction of a second.
  const config = rulesOnlyConfig(server.url, randomPipeline(), { ...FAST, maxDeliveries: 2, retryBaseMs: 5, retryMaxMs: 20 });
  const keys = new Keys(config.pipeline);
  const metrics = countingMetrics();
  const workers = config.stages.map((s) => new Worker({ config, stage: s.name, stages: STAGES, logger: silentLogger, metrics }));
  for (const w of workers) w.run().catch((err) => console.error('worker failed', err));
  const producer = client(server.url);
  const N = 3000;
  const lines = Array.from({ length: N }, (_, i) =>
    JSON.stringify({ id: `m${i}`, title: `Product ${i} ${'x'.repeat(200)}`, ...(i % 3 === 0 ? { mpn: `MX-${i}` } : {}) }),
  ).join('\n');
  try {
    await waitFor('workers reading', async () => (await redis.keys(`${keys.extra('liveness:*')}`)).filter(isLivenessMarker).length === config.stages.length);
    const used = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
    await redis.config('SET', 'maxmemory', String(used + 400_000)); // room for about a third of the run
    const before = await oomRejections();
    const producing = produce(producer, Readable.from([lines]), {
      stream: keys.stream('in'),
      source: 'oom-test',
      maxRecordBytes: 65536,
      batchSize: 100,
      retryForMs: 120_000,
      retryMaxMs: 100,
    });
    // Full: both the producer and the store stage are refused for a while.
    await waitFor('Redis refusing writes with OOM', async () => (await oomRejections()) - before > 50, 30_000);
    await waitFor('the store stage meeting OOM', () => (metrics.counts.get('redis.oom') ?? 0) > 5, 30_000);
    assert.is(await redis.xlen(keys.dlq), 0, 'nothing dead-lettered while Redis is full');
    await redis.config('SET', 'maxmemory', '0');
    const summary = await producing;
    assert.is(summary.produced, N);
    await waitFor('drained', async () => (await redis.scard(keys.products)) === N && isIdle(await pipelineStatus(redis, config)), 60_000);
  } finally {
    await redis.config('SET', 'maxmemory', '0');
    await stopAll(workers);
    producer.disconnect();
  }
  await assertStoredOnce(redis, keys, N, 'm', metrics.counts);
  assert.ok((metrics.counts.get('redis.oom') ?? 0) > 0, 'the outage is counted for alerting');
});

test.run();
