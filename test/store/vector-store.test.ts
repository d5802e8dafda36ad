import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Keys } from '../../lib/redis/keys.js';
import { VectorBlock } from '../../stages/domain/vector-index.js';
import { bufferToCentroids, bufferToVector, centroidsId, storedVector, vectorFiled, vectorToBuffer } from '../../stages/domain/vector-bytes.js';
import { dot, nearestCentroid } from '../../stages/domain/ivf.js';
import { VectorStore } from '../../stages/domain/vector-store.js';
import { client, randomPipeline, redisForFile } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);
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
  const hit = (await w2.nearest('audio', v, 'nobody'))!;
  assert.is(hit.key, 'p1');
  assert.ok(Math.abs(hit.score - 1) < 0.01, 'scored on the int8 copy');
  const stored = storedVector((await redis.hgetBuffer(keys.extra('vectors:audio'), 'p1'))!).vec;
  assert.equal(Array.from(stored), Array.from(v), 'Redis holds the float32 vector exactly');
  await w1.add('audio', 'p4', unit(0, 1, 0));
  await w2.sync('audio');
  assert.is(w2.size('audio'), 3, 'only the new key is read on the next sync');
});

test("a sync across many log chunks (1,000 entries per read) reads every vector once, and skips the syncing worker's own in every chunk", async () => {
  const keys = new Keys(randomPipeline());
  const w1 = new VectorStore(redis, keys);
  const w2 = new VectorStore(redis, keys);
  const vecs = clustered(2600, 16, 20);
  // Interleaved writers, so each of w1's chunks holds entries of both.
  for (let i = 0; i < vecs.length; i++) await (i % 3 === 0 ? w2 : w1).add('cams', `p${i}`, vecs[i]!);
  const w3 = new VectorStore(redis, keys);
  const reads: number[] = [];
  const lrange = redis.lrange.bind(redis);
  redis.lrange = ((...args: Parameters<typeof redis.lrange>) => (reads.push(Number(args[2]) - Number(args[1]) + 1), lrange(...args))) as typeof redis.lrange;
  try {
    await w3.sync('cams');
    await w1.sync('cams');
  } finally {
    redis.lrange = lrange;
  }
  // A read from a position past 0 asks for the entry before it too (the one the copy read there: a deleted log is told so).
  assert.ok(
    reads.every((n) => n === 1000 || n === 1001),
    `every read asks for 1,000 entries (and the one before): ${reads.join(', ')}`,
  );
  assert.is(w3.size('cams'), 2600);
  assert.is(w1.size('cams'), 2600, "w1 adds w2's vectors to its own");
  for (const i of [0, 999, 1000, 2599]) assert.is((await w3.nearest('cams', vecs[i]!, 'none'))!.key, `p${i}`);
  assert.is(await w1.sync('cams').then(() => w1.size('cams')), 2600, 'nothing left to read');
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
  assert.is((await w2.nearest('audio', changed, 'nobody'))!.key, 'p1', 'the other worker has the new vector');
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
  const hit = (await w1.nearest('audio', mine, 'nobody'))!;
  assert.equal([hit.key, Math.round(hit.score * 1e6) / 1e6], ['p1', 1], 'its own entry was skipped, not re-read');
  await w1.add('audio', 'p3', unit(0, 1, 1));
  await w2.add('audio', 'p3', unit(1, 1, 1));
  await w1.sync('audio');
  assert.ok((await w1.nearest('audio', unit(1, 1, 1), 'nobody'))!.score > 0.999, "another worker's later vector for the same key still arrives");
});

/** `n` unit vectors of `dim` dimensions in a few clusters, deterministic. */
function clustered(n: number, dim: number, seed: number): Float32Array[] {
  let x = seed;
  const rnd = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  const centres = Array.from({ length: 6 }, () => Float32Array.from({ length: dim }, rnd));
  return Array.from({ length: n }, (_, i) => unit(...Array.from(centres[i % 6]!, (c) => c + 0.3 * rnd())));
}

const SMALL = { exactBelow: 64, lists: 8, probes: 2 };

test('IVF centroids are shared: the first copy to build them publishes them, a later worker adopts them and files stored vectors by their list', async () => {
  const keys = new Keys(randomPipeline());
  const a = new VectorStore(redis, keys, SMALL);
  const vecs = clustered(200, 8, 1);
  await a.sync('audio');
  for (let i = 0; i < 100; i++) await a.add('audio', `p${i}`, vecs[i]!);
  assert.is(a.sharedCentroids('audio'), null, 'built at 64 vectors, not published until the next sync');
  await a.sync('audio');
  const raw = await redis.getBuffer(keys.extra('vectors:audio:centroids'));
  assert.ok(raw, 'published');
  assert.is(a.sharedCentroids('audio'), centroidsId(raw!));
  for (let i = 100; i < 200; i++) await a.add('audio', `p${i}`, vecs[i]!);
  const stored = await redis.hgetallBuffer(keys.extra('vectors:audio'));
  assert.is(stored['p10']!.length, 8 * 4, 'written before sharing: the vector alone');
  assert.is(stored['p150']!.length, 8 * 4 + 6, 'written after: with where it is filed');

  const b = new VectorStore(redis, keys, SMALL);
  await b.sync('audio');
  assert.is(b.sharedCentroids('audio'), centroidsId(raw!), 'a new worker adopts the shared centroids');
  assert.is(b.size('audio'), 200);
  for (let i = 0; i < 200; i += 7) assert.equal(await b.nearest('audio', vecs[i]!, `p${i}`), await a.nearest('audio', vecs[i]!, `p${i}`), `p${i}`);
});

test('a stored list is used as is (no centroid comparisons); one filed under other centroids is not', async () => {
  const keys = new Keys(randomPipeline());
  const a = new VectorStore(redis, keys, { ...SMALL, probes: 1 });
  const vecs = clustered(120, 8, 2);
  for (let i = 0; i < 100; i++) await a.add('tv', `p${i}`, vecs[i]!);
  await a.sync('tv');
  const raw = (await redis.getBuffer(keys.extra('vectors:tv:centroids')))!;
  const { centroids } = bufferToCentroids(raw)!;
  const k = centroids.length / 8;
  const q = vecs[100]!;
  const own = nearestCentroid(centroids, k, 8, q, 0);
  const wrong = (own + 1) % k;
  // The query's twin, stored as filed in a list a probe of 1 never visits: only a copy that trusts the stored list misses it.
  await redis.hset(keys.extra('vectors:tv'), 'twin', vectorFiled(q, { centroids: centroidsId(raw), list: wrong }));
  await redis.rpush(keys.extra('vectors:tv:log'), 'twin');
  await redis.hset(keys.extra('vectors:tv'), 'twin2', vectorFiled(q, { centroids: (centroidsId(raw) ^ 1) >>> 0, list: wrong }));
  await redis.rpush(keys.extra('vectors:tv:log'), 'twin2');
  const b = new VectorStore(redis, keys, { ...SMALL, probes: 1 });
  await b.sync('tv');
  assert.is((await b.nearest('tv', q, 'nobody'))!.key, 'twin2', 'filed under other centroids: its list is ignored and computed');
  assert.is((await b.nearest('tv', q, 'twin2'))?.key === 'twin', false, 'the stored list was used: the twin sits in a list the probe skips');
});

test('two copies that built their own centroids end on the same ones: the second to sync adopts the first one’s', async () => {
  const keys = new Keys(randomPipeline());
  const a = new VectorStore(redis, keys, SMALL);
  const b = new VectorStore(redis, keys, SMALL);
  const vecs = clustered(160, 8, 3);
  for (let i = 0; i < 80; i++) await a.add('cams', `a${i}`, vecs[i]!);
  for (let i = 80; i < 160; i++) await b.add('cams', `b${i}`, vecs[i]!);
  await a.sync('cams');
  await b.sync('cams');
  const id = a.sharedCentroids('cams');
  assert.ok(id !== null);
  assert.is(b.sharedCentroids('cams'), id);
  assert.is(b.size('cams'), 160);
  for (let i = 0; i < 160; i += 9)
    assert.ok((await b.nearest('cams', vecs[i]!, 'none'))!.score > 0.99, 'every vector still found (its own, scored on its int8 copy)');
});

test('a match user whose ACL predates shared centroids (no GET/SET) goes on unshared, warns once, and still matches', async () => {
  const keys = new Keys(randomPipeline());
  const user = `old${Math.random().toString(36).slice(2, 8)}`;
  await redis.acl('SETUSER', user, 'on', '>pw', '~*', '&*', '+@all', '-get', '-set');
  const url = new URL(server.url);
  url.username = user;
  url.password = 'pw';
  const old = client(url.toString());
  const warnings: Record<string, unknown>[] = [];
  const store = new VectorStore(old, keys, SMALL, (event, fields) => warnings.push({ event, ...fields }));
  const vecs = clustered(100, 8, 4);
  try {
    await store.sync('toys');
    for (let i = 0; i < 100; i++) await store.add('toys', `p${i}`, vecs[i]!);
    await store.sync('toys');
    await store.sync('toys');
    assert.is(warnings.length, 1, JSON.stringify(warnings));
    assert.is(warnings[0]!.event, 'match.centroids_unshared');
    assert.match(String(warnings[0]!.err), /NOPERM/);
    assert.is(store.sharedCentroids('toys'), null);
    assert.ok((await store.nearest('toys', vecs[5]!, 'none'))!.score > 0.99);
  } finally {
    old.disconnect();
    await redis.acl('DELUSER', user);
  }
});

test('the int8 copy: every score within its error bound of the float32 one, and the best within the block bound of the exact best', () => {
  const vecs = clustered(600, 96, 5);
  const block = new VectorBlock(96, 16, { exactBelow: Infinity });
  vecs.slice(0, 500).forEach((v, i) => block.add(`p${i}`, v));
  for (const q of vecs.slice(500)) {
    const hit = block.nearest(q)!;
    const exact = dot(vecs[Number(hit.key.slice(1))]!, 0, q, 0, 96);
    assert.ok(Math.abs(hit.score - exact) <= hit.bound, `${hit.score} vs ${exact}, bound ${hit.bound}`);
    assert.ok(hit.bound <= block.errorBound(q) + 1e-12);
    const best = Math.max(...vecs.slice(0, 500).map((v) => dot(v, 0, q, 0, 96)));
    assert.ok(exact >= best - 2 * block.errorBound(q), `exact best ${best}, found ${exact}`);
  }
});

test('rows past the first chunk of codes (2,048 rows) score and re-add like the first: every stored vector finds itself', () => {
  const vecs = clustered(20_000, 16, 40);
  const block = new VectorBlock(16, 1, { exactBelow: Infinity });
  vecs.forEach((v, i) => block.add(`p${i}`, v));
  assert.is(block.size, 20_000);
  for (const i of [0, 2047, 2048, 8192, 12_345, 16_384, 19_999]) {
    const hit = block.nearest(vecs[i]!)!;
    assert.ok(hit.score >= 1 - hit.bound, `p${i} scored ${hit.score}`);
    assert.ok(dot(vecs[Number(hit.key.slice(1))]!, 0, vecs[i]!, 0, 16) >= 1 - 2 * block.errorBound(vecs[i]!), `p${i} found ${hit.key}`);
  }
  // Re-adding a key of a later chunk replaces its vector there: it no longer matches its old one.
  block.add('p17000', vecs[3]!);
  assert.is(block.size, 20_000);
  const again = block.nearest(vecs[3]!, 'p3')!;
  assert.is(again.key, 'p17000');
});

test('a block keeps rows and keys in spill files it has unlinked: nothing in the directory, under 32 bytes of memory a product', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spill-test-'));
  try {
    const vecs = clustered(60_000, 96, 50);
    const block = new VectorBlock(96, 1, { dir });
    vecs.forEach((v, i) => block.add(`sku-${i}-${'x'.repeat(i % 30)}`, v));
    assert.ok(block.indexed);
    assert.equal(readdirSync(dir), [], 'no file is left under a name');
    const perProduct = block.bytesHeld / vecs.length;
    assert.ok(perProduct < 32, `${perProduct.toFixed(1)} bytes a product`);
    for (const i of [0, 511, 512, 30_000, 59_999]) {
      const hit = block.nearest(vecs[i]!)!;
      assert.ok(hit.score >= 1 - hit.bound, `${i} scored ${hit.score}`);
    }
    block.close();
    assert.throws(() => new VectorBlock(96, 1, { dir: join(dir, 'missing') }), /ENOENT.*missing/);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('a threshold decision the int8 scores leave open is settled on the exact float32 vectors from Redis', async () => {
  const threshold = 0.92;
  const base = clustered(400, 96, 9);
  // A stored vector and a query at an exact cosine just above or below the threshold, such that
  // the int8 score lands on the other side of it.
  let found: { x: Float32Array; q: Float32Array; exact: number } | undefined;
  for (let i = 0; i + 1 < base.length && !found; i += 2) {
    const [x, r] = [base[i]!, base[i + 1]!];
    const along = dot(r, 0, x, 0, 96);
    const ortho = unit(...Array.from(r, (v, d) => v - along * x[d]!));
    for (const target of [threshold + 4e-4, threshold - 4e-4]) {
      const q = unit(...Array.from(x, (v, d) => target * v + Math.sqrt(1 - target * target) * ortho[d]!));
      const exact = dot(x, 0, q, 0, 96);
      const block = new VectorBlock(96, 1, { exactBelow: Infinity });
      block.add('x', x);
      if (block.nearest(q)!.score >= threshold !== exact >= threshold) found = { x, q, exact };
    }
  }
  assert.ok(found, 'a pair whose int8 score is on the other side of the threshold');
  const store = new VectorStore(redis, new Keys(randomPipeline()));
  await store.add('audio', 'x', found.x);
  const approx = (await store.nearest('audio', found.q, 'q'))!;
  const decided = (await store.nearest('audio', found.q, 'q', threshold))!;
  assert.is(approx.score >= threshold, !(found.exact >= threshold), 'without a threshold: the int8 score');
  assert.is(decided.score >= threshold, found.exact >= threshold, 'with it: the exact decision');
  assert.ok(Math.abs(decided.score - found.exact) < 1e-6, `${decided.score} is the exact ${found.exact}`);
});

test("a category's vectors deleted from Redis (pipeline eval releasing a chunk): a worker's copy drops them and reads the new log from its start, however long it grew", async () => {
  const keys = new Keys(randomPipeline());
  const w1 = new VectorStore(redis, keys);
  const w2 = new VectorStore(redis, keys);
  const old = [unit(1, 0, 0), unit(0, 1, 0), unit(0, 0, 1)];
  for (const [i, v] of old.entries()) await w1.add('audio', `old${i}`, v);
  await w2.sync('audio');
  assert.is(w2.size('audio'), 3, 'precondition: the copy has the first chunk');
  await redis.unlink(keys.extra('vectors:audio'), keys.extra('vectors:audio:log'));
  // A new log longer than the old one: its first 3 entries had been skipped, the 3 old vectors kept.
  const fresh = Array.from({ length: 5 }, (_, i) => unit(1, 0.2 * (i + 1), 0.1 * i));
  for (const [i, v] of fresh.entries()) await w1.add('audio', `new${i}`, v);
  await w2.sync('audio');
  assert.is(w2.size('audio'), 5, 'the 5 new vectors, not the 3 old ones');
  for (const [i, v] of fresh.entries()) assert.is((await w2.nearest('audio', v, 'q'))!.key, `new${i}`);
  assert.is((await w2.nearest('audio', old[2]!, 'q'))!.key.startsWith('new'), true, 'an old vector is no longer found');
  // And a new log shorter than the old one.
  await w2.sync('audio');
  await redis.unlink(keys.extra('vectors:audio'), keys.extra('vectors:audio:log'));
  await w1.add('audio', 'last', old[0]!);
  await w2.sync('audio');
  assert.is(w2.size('audio'), 1);
  assert.is((await w2.nearest('audio', old[0]!, 'q'))!.key, 'last');
  w1.close();
  w2.close();
});

test.run();
