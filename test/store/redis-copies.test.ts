/**
 * The Redis sink is idempotent per store-stream entry, as the Postgres sink is
 * (test/store/postgres-copies.test.ts): a batch written but not acked (a store worker killed between its
 * upserts and the ack, a failover) comes again, reclaimed whole or split otherwise, while its
 * entries are still pending, so upsert-product-5.lua's pending check lets it through; `copies`
 * must count none of its entries twice, however many entries of one key it had (they had counted
 * again: every entry but the stored one was "another entry", copies 2 -> 4). Entries are known by
 * stream and id (the product hash's `applied` field: its last 16); a hash written by the previous
 * release (no `applied`) keeps counting right.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { silentLogger } from '../../lib/observe/logger.js';
import { noopMetrics } from '../../lib/observe/metrics.js';
import { Keys } from '../../lib/redis/keys.js';
import { createRedisSink } from '../../stages/sinks/redis.js';
import { createStore, SINKS } from '../../stages/store.js';
import { rulesOnlyConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';
import { reclaimedBatch, sameRecordAgain, storedVersion } from '../helpers/store-deliveries.js';

const { server, redis } = await redisForFile(test);

/** `copies` of each product key (the Redis sink's hash field). */
const copiesOf = async (keys: Keys, ...ks: string[]): Promise<Record<string, number>> =>
  Object.fromEntries(await Promise.all(ks.map(async (k) => [k, Number(await redis.hget(keys.product(k), 'copies'))])));

test('a batch written but not acked, reclaimed whole and one entry at a time: copies counts each entry once (two entries of one key in it: 2, not 4)', async () => {
  const config = rulesOnlyConfig(server.url, randomPipeline('rc'));
  const keys = new Keys(config.pipeline);
  const stage = config.stages.find((s) => s.kind === 'store')!;
  const store = createStore({ config, stage, keys, redis, logger: silentLogger, metrics: noopMetrics });
  await store.init?.();
  const { batch, again } = await reclaimedBatch({
    redis,
    store,
    stream: keys.stream(stage.input),
    name: stage.input,
    group: stage.name,
    copies: () => copiesOf(keys, 'a', 'b'),
  });
  assert.equal(await redis.hmget(keys.product('b'), 'entry', 'applied'), [again[0]!.id, `store/${batch[1]!.id} store/${again[0]!.id}`]);
  await store.close?.();
});

test('the same record under a new store entry (the stage before ran again after a failover lost its entry) is not a copy; a second production is', async () => {
  const config = rulesOnlyConfig(server.url, randomPipeline('rc'));
  const keys = new Keys(config.pipeline);
  const stage = config.stages.find((s) => s.kind === 'store')!;
  const store = createStore({ config, stage, keys, redis, logger: silentLogger, metrics: noopMetrics });
  await store.init?.();
  const stored = async () => Object.fromEntries(Object.entries(await copiesOf(keys, 'r', 's')).filter(([, n]) => n > 0));
  await sameRecordAgain({ redis, store, stream: keys.stream(stage.input), name: stage.input, group: stage.name, copies: stored });
  assert.is((await redis.hget(keys.product('r'), 'lineages'))!.split(' ').length, 2, 'its two lineages kept');
  await store.close?.();
});

test('entries are known by stream and id: the same id in another stream (a fused upstream) is another entry; one re-delivered after 16 newer ones of its key counts again', async () => {
  const keys = new Keys(randomPipeline('rc'));
  const sink = createRedisSink(redis, keys);
  await sink.write([storedVersion('k', '5-0', '100-0', 'store')]);
  await sink.write([storedVersion('k', '5-0', '100-0', 'validate')]);
  assert.equal(await copiesOf(keys, 'k'), { k: 2 }, 'the same id in another stream');
  await sink.write([storedVersion('k', '5-0', '100-0', 'store'), storedVersion('k', '5-0', '100-0', 'validate')]);
  assert.equal(await copiesOf(keys, 'k'), { k: 2 }, 'both re-delivered, in one batch');
  // The hash keeps its last 16 entries: a re-delivery older than that is counted (bounded memory per product).
  await sink.write(Array.from({ length: 16 }, (_, i) => storedVersion('k', '5-0', `${200 + i}-0`, 'store')));
  assert.equal(await copiesOf(keys, 'k'), { k: 18 });
  await sink.write([storedVersion('k', '5-0', '215-0', 'store'), storedVersion('k', '5-0', '201-0', 'store')]);
  assert.equal(await copiesOf(keys, 'k'), { k: 18 }, 'the last 16 are known');
  assert.is((await redis.hget(keys.product('k'), 'applied'))!.split(' ').length, 16, 'at most 16 kept');
  await sink.write([storedVersion('k', '5-0', '100-0', 'validate')]);
  assert.equal(await copiesOf(keys, 'k'), { k: 19 }, 'an entry the hash no longer keeps counts again');
});

test('settings.appliedEntriesKept: a store keeping 2 entries per product keeps 2 in `applied`, and a re-delivery older than those counts again (16 had been fixed)', async () => {
  const config = rulesOnlyConfig(server.url, randomPipeline('rk'));
  const keys = new Keys(config.pipeline);
  const stage = config.stages.find((s) => s.kind === 'store')!;
  const sink = SINKS.redis!({
    config,
    stage: { ...stage, settings: { ...stage.settings, appliedEntriesKept: 2 } },
    keys,
    redis,
    logger: silentLogger,
    metrics: noopMetrics,
  });
  await sink.write(['100-0', '101-0', '102-0'].map((id) => storedVersion('k', '5-0', id, 'store')));
  assert.equal(await copiesOf(keys, 'k'), { k: 3 });
  assert.is(await redis.hget(keys.product('k'), 'applied'), 'store/101-0 store/102-0', 'the last 2 kept');
  await sink.write([storedVersion('k', '5-0', '101-0', 'store')]);
  assert.equal(await copiesOf(keys, 'k'), { k: 3 }, 'one of the last 2 is known');
  await sink.write([storedVersion('k', '5-0', '100-0', 'store')]);
  assert.equal(await copiesOf(keys, 'k'), { k: 4 }, 'an entry before the last 2 counts again');
});

test('upgrade: a product hash from before `applied` (entry id only), or written by the previous release during a rolling upgrade: its stored entry re-delivered does not count, a new entry counts once', async () => {
  const keys = new Keys(randomPipeline('rc'));
  const sink = createRedisSink(redis, keys);
  // A hash the previous release stored (upsert-product-5.lua without `applied`).
  await redis.hset(keys.product('k'), 'entry', '100-0', 'category', 'c', 'version', '5-0', 'copies', '1', 'doc', '{"key":"k"}');
  await sink.write([storedVersion('k', '5-0', '100-0', 'store')]);
  assert.equal(await copiesOf(keys, 'k'), { k: 1 }, 'the stored entry again, now with its stream');
  await sink.write([storedVersion('k', '6-0', '101-0', 'store'), storedVersion('k', '6-0', '101-0', 'store')]);
  await sink.write([storedVersion('k', '6-0', '101-0', 'store')]);
  assert.equal(await copiesOf(keys, 'k'), { k: 2 }, 'a new entry counts once');
  assert.is(await redis.hget(keys.product('k'), 'applied'), 'store/100-0 store/101-0');
  // During a rolling upgrade a store worker of the previous release writes the hash (`entry`, not `applied`): its entry is known too.
  await redis.hset(keys.product('k'), 'entry', '102-0', 'version', '7-0', 'copies', '3');
  await sink.write([storedVersion('k', '7-0', '102-0', 'store')]);
  assert.equal(await copiesOf(keys, 'k'), { k: 3 }, "the previous release's stored entry again");
  assert.is(await redis.hget(keys.product('k'), 'applied'), 'store/100-0 store/101-0 store/102-0');
});

test.run();
