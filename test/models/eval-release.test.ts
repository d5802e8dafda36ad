/**
 * releaseChunk (training/eval/release.ts), what `pipeline eval` deletes after scoring a chunk, on
 * a real Redis with two shards: the chunk's products, statuses, set members, the review and DLQ
 * entries collected and the producer's run state go; another chunk's keys, an entry added after
 * the collection and the match stage's vectors stay.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Shards } from '../../lib/redis/shard.js';
import { encodeEnvelope, FIELD_ENVELOPE, FIELD_KEY, newEnvelope } from '../../lib/stream/codec.js';
import { collectOutcomes } from '../../training/eval/collect.js';
import { nextStreamId, releaseChunk } from '../../training/eval/release.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';

const { redis } = await redisForFile(test);

test('nextStreamId: the id just after, past 2^53 too', () => {
  assert.is(nextStreamId('1700000000000-0'), '1700000000000-1');
  assert.is(nextStreamId('5-18446744073709551614'), '5-18446744073709551615');
});

test("a chunk's keys and collected entries go; another chunk's, a later entry and the vectors stay", async () => {
  const shards = new Shards(randomPipeline('rel'), 2);
  const envelope = (id: string) => ({ ...newEnvelope({ id, title: `title ${id}` }), outputs: { classify: { category: 'audio', confidence: 0.3 } } });
  const store = async (id: string) => {
    const k = shards.keysFor(id);
    await redis.hset(k.product(id), 'doc', JSON.stringify(envelope(id)), 'category', 'audio');
    await redis.sadd(k.products, id);
    await redis.sadd(k.category('audio'), id);
    await redis.set(k.status(id), 'stored');
  };
  const chunk = Array.from({ length: 12 }, (_, i) => `c${i}`);
  const other = ['o1', 'o2'];
  for (const id of [...chunk, ...other]) await store(id);
  const entry = (stream: string, id: string) => redis.xadd(stream, '*', FIELD_KEY, id, FIELD_ENVELOPE, encodeEnvelope(envelope(id)));
  for (const id of chunk.slice(0, 4)) await entry(shards.keysFor(id).stream('review'), id);
  await entry(shards.keysFor('c5').dlq, 'c5');
  const vectors = shards.all[0]!.extra('vectors:audio');
  await redis.hset(vectors, 'c0', 'bytes');
  const producer = `${shards.all[1]!.stream('in')}:producer:eval-chunk-0`;
  await redis.set(producer, '12:abc');

  const readTo = new Map<string, string>();
  const out = await collectOutcomes(redis, shards, chunk, 'review', readTo);
  assert.is([...out.values()].filter((o) => o.review).length, 4);
  assert.ok(readTo.size >= 2, 'a review stream and the DLQ read');
  // Added after the collection: kept for the next one.
  const late = shards.keysFor('c1').stream('review');
  await entry(late, 'late');
  const released = await releaseChunk(redis, shards, chunk, readTo, [producer]);

  assert.is(released.keys, chunk.length * 2 + 1, 'product and status of each, and the run state');
  assert.is(released.entries, 5);
  for (const id of chunk) {
    const k = shards.keysFor(id);
    assert.is(await redis.exists(k.product(id), k.status(id)), 0, id);
    assert.is(await redis.sismember(k.products, id), 0, id);
    assert.is(await redis.sismember(k.category('audio'), id), 0, id);
  }
  for (const id of other) {
    const k = shards.keysFor(id);
    assert.is(await redis.exists(k.product(id), k.status(id)), 2, id);
    assert.is(await redis.sismember(k.category('audio'), id), 1, id);
  }
  const left = await redis.xrange(late, '-', '+');
  assert.equal(
    left.map(([, f]) => f[f.indexOf(FIELD_KEY) + 1]),
    ['late'],
  );
  assert.is(await redis.xlen(shards.keysFor('c5').dlq), 0);
  assert.is(await redis.hget(vectors, 'c0'), 'bytes');
  assert.is(await redis.exists(producer), 0);
});

test.run();
