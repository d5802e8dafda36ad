/**
 * A product's vector lives under one category only (vector-add-N.lua): reprocessed into another
 * category, it leaves the old one for every worker's copy, so a later product of the old category
 * is not reported `duplicateOf` it, while it is still found in the new one. Real redis-server,
 * one and three shards; vectors stored before the category records (no record) are moved too.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Keys } from '../../lib/redis/keys.js';
import { Shards } from '../../lib/redis/shard.js';
import { vectorToBuffer } from '../../stages/domain/vector-bytes.js';
import { VectorBlock } from '../../stages/domain/vector-index.js';
import { VectorStore } from '../../stages/domain/vector-store.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';

const { redis } = await redisForFile(test);
const unit = (...xs: number[]) => {
  const n = Math.hypot(...xs);
  return Float32Array.from(xs, (x) => x / n);
};
const V = unit(0.3, -0.2, 0.9);
const TWIN = unit(0.3, -0.2, 0.91);
const OTHER = unit(-1, 0.2, 0);
const THRESHOLD = 0.92;

/** FCALLs the server has run so far: one per vector added in the common case. */
async function fcalls(): Promise<number> {
  const m = /cmdstat_fcall:calls=(\d+)/.exec(await redis.info('commandstats'));
  return Number(m?.[1] ?? 0);
}

for (const count of [1, 3]) {
  test(`${count} shard(s): a product reprocessed from A into B is no twin in A for any worker, and still one in B`, async () => {
    const shards = new Shards(randomPipeline(), count);
    const [mover, other] = [new VectorStore(redis, shards), new VectorStore(redis, shards)];
    await mover.add('A', 'p1', V);
    await mover.add('A', 'p0', OTHER);
    await other.sync('A');
    assert.is((await other.nearest('A', TWIN, 'p2', THRESHOLD))?.key, 'p1', 'found in A before the move');

    await mover.add('B', 'p1', V);
    for (const w of [mover, other]) {
      await w.sync('A');
      await w.sync('B');
      const inA = await w.nearest('A', TWIN, 'p2', THRESHOLD);
      assert.ok(!inA || inA.score < THRESHOLD, `no duplicate in A any more: ${JSON.stringify(inA)}`);
      assert.is(w.size('A'), 1, 'the old category counts it no more');
      assert.is((await w.nearest('B', TWIN, 'p2', THRESHOLD))?.key, 'p1', 'found in B');
    }
    const fresh = new VectorStore(redis, shards);
    await fresh.sync('A');
    assert.is(fresh.size('A'), 1, 'a worker starting later does not load it into A');
    const keys = shards.keysFor('p1');
    assert.is(await redis.hget(keys.extra('vectors:A'), 'p1'), null, 'gone from the old hash');
    assert.is(await redis.hget(keys.extra('vectors::category'), 'p1'), 'B');
    for (const w of [mover, other, fresh]) w.close();
  });
}

test("the moving worker's copy drops it from the old category at once: a later record of the same batch is no twin of it there", async () => {
  const w = new VectorStore(redis, new Shards(randomPipeline(), 1));
  await w.add('A', 'p1', V);
  const moving = w.add('B', 'p1', V); // match looks up the batch's next record before this write returns
  const inA = w.lookup('A', TWIN, 'p2', THRESHOLD).hit;
  assert.ok(!inA || inA.score < THRESHOLD, `no duplicate in A: ${JSON.stringify(inA)}`);
  assert.is(w.size('A'), 0);
  assert.is(w.lookup('B', TWIN, 'p2', THRESHOLD).hit?.key, 'p1', 'in B');
  await moving;
  w.close();
});

test('moved back and forth, each copy follows the log: in A, then B, then A again', async () => {
  const shards = new Shards(randomPipeline(), 2);
  const [w1, w2] = [new VectorStore(redis, shards), new VectorStore(redis, shards)];
  await w1.add('A', 'p1', V);
  await w2.sync('A');
  await w1.add('B', 'p1', V);
  await w2.add('A', 'p1', V); // w2 moves it back (from B, named by the script)
  for (const w of [w1, w2, new VectorStore(redis, shards)]) {
    await w.sync('A');
    await w.sync('B');
    assert.is((await w.nearest('A', TWIN, 'p2', THRESHOLD))?.key, 'p1', 'in A');
    assert.is(w.size('B'), 0, 'not in B');
    w.close();
  }
});

test('first seen, or seen again in the same category: one call and no move', async () => {
  const shards = new Shards(randomPipeline(), 2);
  const w = new VectorStore(redis, shards);
  const before = await fcalls();
  assert.is(await w.add('A', 'p1', V), 1);
  assert.is(await w.add('A', 'p1', V), 0, 'same vector: not logged again');
  assert.is(await w.add('A', 'p1', TWIN), 1, 'changed vector');
  assert.is((await fcalls()) - before, 3, 'one FCALL per add');
  const keys = shards.keysFor('p1');
  assert.equal(await redis.lrange(keys.extra('vectors:A:log'), 0, -1), ['p1', 'p1']);
  const moving = await fcalls();
  await w.add('B', 'p1', V);
  assert.is((await fcalls()) - moving, 2, 'a move costs one more call');
  w.close();
});

test('a vector stored before category records (none for it) is moved from its stored product category', async () => {
  const keys = new Keys(randomPipeline());
  // As the previous release left it: hash and log, no record; the store stage's product hash.
  await redis.hset(keys.extra('vectors:A'), 'p1', vectorToBuffer(V));
  await redis.rpush(keys.extra('vectors:A:log'), 'p1');
  await redis.hset(keys.product('p1'), 'category', 'A');
  const [mover, other] = [new VectorStore(redis, keys), new VectorStore(redis, keys)];
  await other.sync('A');
  assert.is(other.size('A'), 1);
  await mover.add('B', 'p1', V);
  await other.sync('A');
  assert.is(other.size('A'), 0, 'dropped at the next sync');
  assert.is(await redis.hget(keys.extra('vectors:A'), 'p1'), null);
  // Another old product, seen again in its own category: recorded there, nothing moved.
  await redis.hset(keys.extra('vectors:A'), 'p3', vectorToBuffer(OTHER));
  await redis.hset(keys.product('p3'), 'category', 'A');
  assert.is(await mover.add('A', 'p3', OTHER), 0);
  assert.is(await redis.hget(keys.extra('vectors::category'), 'p3'), 'A');
  for (const w of [mover, other]) w.close();
});

test('VectorBlock.remove: the key is no candidate, not counted, not brought back by building the index, and may come back', () => {
  const b = new VectorBlock(3, 1, { exactBelow: 8, lists: 2, probes: 2 });
  b.add('a', unit(1, 0, 0));
  b.add('b', unit(0, 1, 0));
  assert.ok(b.remove('a'));
  assert.not.ok(b.remove('a'), 'removed once');
  assert.not.ok(b.remove('nobody'));
  assert.is(b.size, 1);
  assert.is(b.nearest(unit(1, 0.01, 0))!.key, 'b');
  for (let i = 0; i < 8; i++) b.add(`k${i}`, unit(0, 1, i / 10));
  assert.ok(b.indexed, 'the index was built from the spill file');
  assert.is(b.size, 9);
  assert.ok(b.within(unit(1, 0, 0), 0.9, 10).length === 0, 'the removed row was not re-filed');
  b.add('a', unit(1, 0, 0));
  assert.is(b.size, 10);
  assert.is(b.nearest(unit(1, 0.01, 0))!.key, 'a');
  b.close();
});

test.run();
