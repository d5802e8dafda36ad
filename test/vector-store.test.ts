import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Keys } from '../lib/redis/keys.js';
import { bufferToVector, VectorBlock, vectorToBuffer } from '../stages/domain/vector-index.js';
import { VectorStore } from '../stages/domain/vector-store.js';
import { client, randomPipeline, startRedis } from './helpers/redis.js';

const server = await startRedis();
const redis = client(server.url);
const unit = (...xs: number[]) => {
  const n = Math.hypot(...xs);
  return Float32Array.from(xs, (x) => x / n);
};

test('vectors are stored as little-endian float32 bytes, and read back from an unaligned buffer exactly', () => {
  const v = new Float32Array([1.5, -0.25, 3.1415927, 1e-7]);
  const expected = Buffer.alloc(16);
  v.forEach((x, i) => expected.writeFloatLE(x, i * 4));
  assert.equal([...vectorToBuffer(v)], [...expected]);
  const unaligned = Buffer.concat([Buffer.from([9]), expected]).subarray(1);
  assert.equal([...bufferToVector(unaligned)], [...v]);
});

test('nearest finds the most similar other vector; re-adding a key replaces it', () => {
  const b = new VectorBlock(3, 1);
  b.add('a', unit(1, 0, 0));
  b.add('b', unit(0, 1, 0));
  b.add('c', unit(1, 1, 0));
  assert.is(b.nearest(unit(1, 0.1, 0))!.key, 'a');
  assert.is(b.nearest(unit(1, 0.1, 0), 'a')!.key, 'c', 'excluding itself');
  b.add('a', unit(0, 0, 1));
  assert.is(b.size, 3);
  assert.is(b.nearest(unit(0, 0.1, 1))!.key, 'a');
  assert.throws(() => b.add('d', unit(1, 0)), /2 dimensions, index has 3/);
});

test('a second worker sees vectors the first stored, round-tripped exactly through Redis', async () => {
  const keys = new Keys(randomPipeline());
  const w1 = new VectorStore(redis, keys);
  const w2 = new VectorStore(redis, keys);
  const v = unit(0.3, -0.2, 0.9);
  await w1.add('audio', 'p1', v);
  await w1.add('audio', 'p2', unit(-1, 0, 0));
  await w1.add('storage', 'p3', v);
  await w2.sync('audio');
  assert.is(w2.size('audio'), 2);
  assert.is(w2.size('storage'), 0, 'categories are separate blocks');
  const hit = w2.nearest('audio', v, 'nobody')!;
  assert.is(hit.key, 'p1');
  assert.ok(Math.abs(hit.score - 1) < 1e-6);
  await w1.add('audio', 'p4', unit(0, 1, 0));
  await w2.sync('audio');
  assert.is(w2.size('audio'), 3, 'only the new key is read on the next sync');
});

test('reprocessing a product with the same vector does not grow the key log; a changed vector is logged once and reaches the other worker', async () => {
  const keys = new Keys(randomPipeline());
  const w1 = new VectorStore(redis, keys);
  const w2 = new VectorStore(redis, keys);
  const log = keys.extra('vectors:audio:log');
  const v = unit(0.3, -0.2, 0.9);
  for (let i = 0; i < 5; i++) await w1.add('audio', 'p1', v);
  assert.is(await redis.llen(log), 1, 'five reprocesses, one log entry');
  await w1.add('audio', 'p2', unit(-1, 0, 0));
  assert.is(await redis.llen(log), 2);
  await w2.sync('audio');
  const changed = unit(0, 1, 0);
  assert.is(await w1.add('audio', 'p1', changed), 1, 'a changed vector is stored');
  assert.is(await w1.add('audio', 'p1', changed), 0, 'and not again');
  assert.is(await redis.llen(log), 3);
  await w2.sync('audio');
  assert.is(w2.nearest('audio', changed, 'nobody')!.key, 'p1', 'the other worker has the new vector');
  assert.is(w2.size('audio'), 2);
});

test("a sync reads back only the log entries other workers wrote, not the worker's own (already in its copy)", async () => {
  const keys = new Keys(randomPipeline());
  const w1 = new VectorStore(redis, keys);
  const w2 = new VectorStore(redis, keys);
  const mine = unit(1, 0, 0);
  await w1.add('audio', 'p1', mine);
  await w2.add('audio', 'p2', unit(0, 1, 0));
  // Change p1 in Redis behind w1's back: if w1's sync read its own entry back, its copy would take it.
  await redis.hset(keys.extra('vectors:audio'), 'p1', vectorToBuffer(unit(0, 0, 1)));
  await w1.sync('audio');
  assert.is(w1.size('audio'), 2, "w2's vector arrived");
  const hit = w1.nearest('audio', mine, 'nobody')!;
  assert.equal([hit.key, Math.round(hit.score * 1e6) / 1e6], ['p1', 1], 'its own entry was skipped, not re-read');
  await w1.add('audio', 'p3', unit(0, 1, 1));
  await w2.add('audio', 'p3', unit(1, 1, 1));
  await w1.sync('audio');
  assert.ok(w1.nearest('audio', unit(1, 1, 1), 'nobody')!.score > 0.999, "another worker's later vector for the same key still arrives");
});

test.after(async () => {
  redis.disconnect();
  await server.close();
});
test.run();
