/**
 * The Redis sink writes a product only while the store-stream delivery that carries it is pending
 * in the store's group (upsert-product-5.lua). A store write that failed while its master failed
 * over is retried in place (an outage) and then runs on the promoted replica, which may have
 * neither the entry nor its read: that record's earlier stage runs again on the new master and
 * sends it under another entry id. Written both times, the product counted `copies` 2 (seen in
 * test/topologies/cluster.test.ts, WAIT 1 failover: 16-18 products, all with the same store-stream batch).
 * Here the promoted replica's state is set up directly on one redis-server: the entry the store
 * read is not in the stream, then the record comes again as a new, delivered entry.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { silentLogger } from '../../lib/observe/logger.js';
import { noopMetrics } from '../../lib/observe/metrics.js';
import { Keys } from '../../lib/redis/keys.js';
import { encodeEnvelope, newEnvelope, type Message } from '../../lib/stream/codec.js';
import { createStore } from '../../stages/store.js';
import { rulesOnlyConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);

function setup() {
  const config = rulesOnlyConfig(server.url, randomPipeline('np'));
  const keys = new Keys(config.pipeline);
  const stage = config.stages.find((s) => s.kind === 'store')!;
  const store = createStore({ config, stage, keys, redis, logger: silentLogger, metrics: noopMetrics });
  const stream = keys.stream(stage.input);
  const envelope = { ...newEnvelope({ id: 'p1', title: 'Product 1' }), origin: '5-0' };
  const message = (id: string): Message => ({ id, stream: stage.input, envelope });
  /** The record arrives in the store stream and is read by the store's group: its entry id. */
  const delivered = async (): Promise<string> => {
    await redis.xadd(stream, '*', 'k', 'p1', 'e', encodeEnvelope(envelope));
    const read = (await redis.xreadgroup('GROUP', stage.name, 'c1', 'COUNT', 1, 'STREAMS', stream, '>')) as [string, [string, string[]][]][];
    return read[0]![1][0]![0];
  };
  const process = async (id: string) =>
    assert.ok(
      (await store.process([message(id)])).every((r) => r.ok),
      'the batch is done',
    );
  return { keys, stage, stream, store, delivered, process };
}

test('a store write whose entry a failover lost writes nothing; the record sent again is stored once', async () => {
  const { keys, stage, stream, delivered, process } = setup();
  await redis.xgroup('CREATE', stream, stage.name, '$', 'MKSTREAM');
  // The old master had delivered entry 1000-0 to the store; the promoted replica has neither it nor the read.
  await process('1000-0');
  assert.is(await redis.exists(keys.product('p1')), 0, 'nothing stored for a delivery the stream does not hold');
  assert.is(await redis.get(keys.status('p1')), null, 'and no completion recorded');
  // The earlier stage ran again on the new master: the record comes as a new entry.
  const again = await delivered();
  await process(again);
  assert.equal(await redis.hmget(keys.product('p1'), 'copies', 'entry'), ['1', again], 'stored once, by the entry the new master holds');
});

test('a pending delivery is written, and written again (a retry after a lost reply) counts once; once acked, a late write changes nothing', async () => {
  const { keys, stage, stream, delivered, process } = setup();
  await redis.xgroup('CREATE', stream, stage.name, '$', 'MKSTREAM');
  const id = await delivered();
  await process(id);
  await process(id);
  assert.equal(await redis.hmget(keys.product('p1'), 'copies', 'entry'), ['1', id]);
  assert.ok(await redis.get(keys.status('p1')), 'its completion recorded');
  // Another consumer stored and acked it (a reclaim): a late write of the same delivery is not applied.
  await redis.xack(stream, stage.name, id);
  await redis.hset(keys.product('p1'), 'storedAt', '1');
  await process(id);
  assert.is(await redis.hget(keys.product('p1'), 'storedAt'), '1', 'not written again');
});

test('a store called outside a worker (no group on the stream) writes as before', async () => {
  const { keys, process } = setup();
  await process('1000-0');
  assert.is(await redis.hget(keys.product('p1'), 'copies'), '1');
});

test.run();
