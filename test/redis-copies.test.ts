/**
 * The Redis sink is idempotent per store-stream entry, as the Postgres sink is
 * (test/postgres-copies.test.ts): a batch written but not acked (a store worker killed between its
 * upserts and the ack, a failover) comes again, reclaimed whole or split otherwise, while its
 * entries are still pending, so upsert-product-5.lua's pending check lets it through; `copies`
 * must count none of its entries twice, however many entries of one key it had (they had counted
 * again: every entry but the stored one was "another entry", copies 2 -> 4). Entries are known by
 * stream and id (the product hash's `applied` field: its last 16); a hash written by the previous
 * release (no `applied`) keeps counting right.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { silentLogger } from '../lib/observe/logger.js';
import { noopMetrics } from '../lib/observe/metrics.js';
import { Keys } from '../lib/redis/keys.js';
import { decodeEnvelope, encodeEnvelope, entryFields, FIELD_ENVELOPE, FIELD_KEY, newEnvelope, type Message } from '../lib/stream/codec.js';
import { toEntries } from '../lib/stream/entries.js';
import { createRedisSink } from '../stages/sinks/redis.js';
import type { StoredProduct } from '../stages/sinks/sink.js';
import { createStore } from '../stages/store.js';
import { rulesOnlyConfig } from './helpers/pipeline.js';
import { client, randomPipeline, startRedis } from './helpers/redis.js';

const server = await startRedis();
const redis = client(server.url);

/** `copies` of each product key (the Redis sink's hash field). */
const copiesOf = async (keys: Keys, ...ks: string[]) =>
  Object.fromEntries(await Promise.all(ks.map(async (k) => [k, Number(await redis.hget(keys.product(k), 'copies'))])));

/** Raw XREADGROUP / XAUTOCLAIM entries of the store stream as the messages a store worker gets. */
const messages = (raw: unknown, stream: string): Message[] =>
  toEntries(raw as never).map((e) => ({ id: e.id, stream, envelope: decodeEnvelope(entryFields(e.fields).payload!) }));

test('a batch written but not acked, reclaimed whole and one entry at a time: copies counts each entry once (two entries of one key in it: 2, not 4)', async () => {
  const config = rulesOnlyConfig(server.url, randomPipeline('rc'));
  const keys = new Keys(config.pipeline);
  const stage = config.stages.find((s) => s.kind === 'store')!;
  const store = createStore({ config, stage, keys, redis, logger: silentLogger, metrics: noopMetrics });
  const stream = keys.stream(stage.input);
  const read = (raw: unknown) => messages(raw, stage.input);
  await store.init?.();
  await redis.xgroup('CREATE', stream, stage.name, '0', 'MKSTREAM');
  // Record a reached the store twice (two store entries of one version: the stage before it ran on
  // its entry again, as after a failover) and record b once: one batch.
  const records: [key: string, origin: string][] = [
    ['a', '10-0'],
    ['b', '11-0'],
    ['a', '10-0'],
  ];
  for (const [key, origin] of records)
    await redis.xadd(stream, '*', FIELD_KEY, key, FIELD_ENVELOPE, encodeEnvelope({ ...newEnvelope({ id: key, title: key }), origin }));
  const first = (await redis.callBuffer('XREADGROUP', 'GROUP', stage.name, 'c1', 'COUNT', 10, 'STREAMS', stream, '>')) as [Buffer, unknown][];
  const batch = read(first[0]![1]);
  assert.is(batch.length, 3);
  assert.ok((await store.process(batch)).every((r) => r.ok));
  assert.equal(await copiesOf(keys, 'a', 'b'), { a: 2, b: 1 });
  // The ack is lost: another consumer reclaims the batch (still pending) and writes it again, whole...
  const [, whole] = (await redis.callBuffer('XAUTOCLAIM', stream, stage.name, 'c2', 0, '0-0', 'COUNT', 10)) as [Buffer, unknown];
  assert.equal(
    read(whole).map((m) => m.id),
    batch.map((m) => m.id),
  );
  assert.ok((await store.process(read(whole))).every((r) => r.ok));
  assert.equal(await copiesOf(keys, 'a', 'b'), { a: 2, b: 1 }, 'the same batch again counts nothing');
  // ...and batched otherwise: one entry at a time, a's first entry after its second is stored.
  let start = '0-0';
  do {
    const [next, one] = (await redis.callBuffer('XAUTOCLAIM', stream, stage.name, 'c3', 0, start, 'COUNT', 1)) as [Buffer, unknown];
    assert.is(read(one).length, 1);
    assert.ok((await store.process(read(one))).every((r) => r.ok));
    start = next.toString();
  } while (start !== '0-0');
  assert.equal(await copiesOf(keys, 'a', 'b'), { a: 2, b: 1 }, 'each entry alone again counts nothing');
  // A new entry of b (produced again) is a copy; its re-delivery is not.
  await redis.xadd(stream, '*', FIELD_KEY, 'b', FIELD_ENVELOPE, encodeEnvelope({ ...newEnvelope({ id: 'b', title: 'b' }), origin: '13-0' }));
  const again = read(((await redis.callBuffer('XREADGROUP', 'GROUP', stage.name, 'c1', 'COUNT', 10, 'STREAMS', stream, '>')) as [Buffer, unknown][])[0]![1]);
  for (let round = 0; round < 2; round++) assert.ok((await store.process(again)).every((r) => r.ok));
  assert.equal(await copiesOf(keys, 'a', 'b'), { a: 2, b: 2 });
  assert.equal(await redis.hmget(keys.product('b'), 'entry', 'applied'), [again[0]!.id, `store/${batch[1]!.id} store/${again[0]!.id}`]);
  await store.close?.();
});

/** Version `origin` of product `key` from store entry `entryId` of `stream`, as the store stage builds it (no consumer group: no pending check). */
const product = (key: string, origin: string, entryId: string, stream?: string): StoredProduct => ({
  key,
  entryId,
  ...(stream ? { stream } : {}),
  traceId: 't',
  category: 'c',
  fields: {},
  doc: { key },
  storedAt: Date.now(),
  version: origin,
});

test('entries are known by stream and id: the same id in another stream (a fused upstream) is another entry; one re-delivered after 16 newer ones of its key counts again', async () => {
  const keys = new Keys(randomPipeline('rc'));
  const sink = createRedisSink(redis, keys);
  await sink.write([product('k', '5-0', '100-0', 'store')]);
  await sink.write([product('k', '5-0', '100-0', 'validate')]);
  assert.equal(await copiesOf(keys, 'k'), { k: 2 }, 'the same id in another stream');
  await sink.write([product('k', '5-0', '100-0', 'store'), product('k', '5-0', '100-0', 'validate')]);
  assert.equal(await copiesOf(keys, 'k'), { k: 2 }, 'both re-delivered, in one batch');
  // The hash keeps its last 16 entries: a re-delivery older than that is counted (bounded memory per product).
  await sink.write(Array.from({ length: 16 }, (_, i) => product('k', '5-0', `${200 + i}-0`, 'store')));
  assert.equal(await copiesOf(keys, 'k'), { k: 18 });
  await sink.write([product('k', '5-0', '215-0', 'store'), product('k', '5-0', '201-0', 'store')]);
  assert.equal(await copiesOf(keys, 'k'), { k: 18 }, 'the last 16 are known');
  assert.is((await redis.hget(keys.product('k'), 'applied'))!.split(' ').length, 16, 'at most 16 kept');
  await sink.write([product('k', '5-0', '100-0', 'validate')]);
  assert.equal(await copiesOf(keys, 'k'), { k: 19 }, 'an entry the hash no longer keeps counts again');
});

test('upgrade: a product hash from before `applied` (entry id only), or written by the previous release during a rolling upgrade: its stored entry re-delivered does not count, a new entry counts once', async () => {
  const keys = new Keys(randomPipeline('rc'));
  const sink = createRedisSink(redis, keys);
  // A hash the previous release stored (upsert-product-5.lua without `applied`).
  await redis.hset(keys.product('k'), 'entry', '100-0', 'category', 'c', 'version', '5-0', 'copies', '1', 'doc', '{"key":"k"}');
  await sink.write([product('k', '5-0', '100-0', 'store')]);
  assert.equal(await copiesOf(keys, 'k'), { k: 1 }, 'the stored entry again, now with its stream');
  await sink.write([product('k', '6-0', '101-0', 'store'), product('k', '6-0', '101-0', 'store')]);
  await sink.write([product('k', '6-0', '101-0', 'store')]);
  assert.equal(await copiesOf(keys, 'k'), { k: 2 }, 'a new entry counts once');
  assert.is(await redis.hget(keys.product('k'), 'applied'), 'store/100-0 store/101-0');
  // During a rolling upgrade a store worker of the previous release writes the hash (`entry`, not `applied`): its entry is known too.
  await redis.hset(keys.product('k'), 'entry', '102-0', 'version', '7-0', 'copies', '3');
  await sink.write([product('k', '7-0', '102-0', 'store')]);
  assert.equal(await copiesOf(keys, 'k'), { k: 3 }, "the previous release's stored entry again");
  assert.is(await redis.hget(keys.product('k'), 'applied'), 'store/100-0 store/101-0 store/102-0');
});

test.after(async () => {
  redis.disconnect();
  await server.stop();
});
test.run();
