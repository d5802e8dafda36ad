/**
 * A `module:` sink that says `concurrentShards: true` (stages/sinks/sink.ts): a store worker reading
 * 4 shards writes their batches at once, one per shard at most; a sink that does not say it (or
 * says false) gets one batch at a time over the shards.
 */
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { produce } from '../../lib/producer/producer.js';
import { configShards } from '../../lib/redis/shard.js';
import { Worker } from '../../lib/worker/worker.js';
import { STAGES } from '../../stages/index.js';
import { probe } from '../fixtures/probe-sink.js';
import { FAST } from '../helpers/pipeline.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';

const SINK = `module:${resolve(import.meta.dirname, '../fixtures/probe-sink.ts')}`;
const RECORDS = 400;

const server = await startRedis();
const redis = client(server.url);

/** RECORDS records over probe.shards shards through one store worker whose sink says `declare`: the most batches in its `write` at once. */
async function probeSink(declare: boolean | undefined): Promise<{ most: number; mostOfOneShard: number }> {
  Object.assign(probe, { declare, most: 0, mostOfOneShard: 0, written: 0 });
  const config = resolveConfig(
    {
      pipeline: randomPipeline('ms'),
      shards: probe.shards,
      defaults: { ...FAST, batchSize: 10 },
      stages: [{ name: 'store', kind: 'store', input: 'in', settings: { sink: SINK } }],
      routes: {},
    },
    't',
    { env: { REDIS_URL: server.url } },
  );
  const shards = configShards(config);
  const worker = new Worker({ config, stage: 'store', stages: STAGES, logger: silentLogger });
  const running = worker.run();
  try {
    const lines = Array.from({ length: RECORDS }, (_, i) => JSON.stringify({ id: `m${i}`, title: 't' })).join('\n');
    await produce(redis, Readable.from([lines]), {
      stream: shards.all[0]!.stream('in'),
      streamFor: (k) => shards.keysFor(k).stream('in'),
      source: 't',
      maxRecordBytes: 65536,
    });
    await waitFor('every record written', () => probe.written >= RECORDS);
    assert.ok(
      worker.consumers.every((c) => c.processed > 0),
      'every shard read',
    );
    return { most: probe.most, mostOfOneShard: probe.mostOfOneShard };
  } finally {
    await worker.stop();
    await running;
  }
}

test("a module sink that says concurrentShards: true gets the shards' batches at once, one per shard at most", async () => {
  const { most, mostOfOneShard } = await probeSink(true);
  assert.ok(most > 1, `batches of several shards in write at once (most ${most})`);
  assert.is(mostOfOneShard, 1, 'never two batches of one shard at once');
});

test('a module sink that does not say it, or says false, gets one batch at a time over the shards', async () => {
  for (const declare of [undefined, false]) {
    const { most } = await probeSink(declare);
    assert.is(most, 1, `never two batches in write at once (concurrentShards ${declare})`);
  }
});

test.after(async () => {
  redis.disconnect();
  await server.close();
});
test.run();
