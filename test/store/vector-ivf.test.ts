/**
 * The match stage's IVF index (stages/domain/ivf.ts, vector-index.ts): exact below `exactBelow`,
 * the same answers as a full scan when every list is probed, re-added keys move, and on real
 * product titles the default share of lists probed finds the near-duplicates a full scan finds.
 */
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadEmbedder } from '../../lib/models/embedder.js';
import { ConfigError } from '../../lib/core/errors.js';
import { bestLists, dot, trainCentroids } from '../../stages/domain/ivf.js';
import { INDEX_DEFAULTS, parseIndexOptions, VectorBlock } from '../../stages/domain/vector-index.js';
import { Prng } from '../../training/prng.js';

const DIM = 16;
const rng = new Prng(7);
function unit(dim = DIM): Float32Array {
  const v = new Float32Array(dim);
  for (let i = 0; i < dim; i++) v[i] = rng.next() * 2 - 1;
  const n = Math.sqrt(dot(v, 0, v, 0, dim));
  return v.map((x) => x / n);
}

test('k-means centroids are unit vectors; bestLists gives the most similar centroids, best first', () => {
  const n = 500;
  const data = new Float32Array(n * DIM);
  for (let i = 0; i < n; i++) data.set(unit(), i * DIM);
  const k = 10;
  const centroids = trainCentroids(data, DIM, n, k, 5, 200);
  for (let c = 0; c < k; c++) assert.ok(Math.abs(dot(centroids, c * DIM, centroids, c * DIM, DIM) - 1) < 1e-5, `centroid ${c} is unit length`);
  const q = unit();
  const byScore = Array.from({ length: k }, (_, c) => c).sort((a, b) => dot(centroids, b * DIM, q, 0, DIM) - dot(centroids, a * DIM, q, 0, DIM));
  assert.equal([...bestLists(centroids, DIM, q, 4)], byScore.slice(0, 4));
  assert.equal([...bestLists(centroids, DIM, q, 50)], byScore, 'more probes than lists: every list once');
});

test('with every list probed, each stored key is a candidate exactly once, also after re-adds that move it to another list', () => {
  const block = new VectorBlock(DIM, 4, { exactBelow: 100, lists: 10, probes: 10 });
  const vecs = Array.from({ length: 1500 }, () => unit());
  vecs.forEach((v, i) => block.add(`k${i}`, v));
  assert.ok(block.indexed);
  // Re-add a third of the keys with other keys' vectors: most land in another list.
  for (let i = 0; i < 1500; i += 3) block.add(`k${i}`, vecs[(i * 7 + 1) % 1500]!);
  assert.is(block.size, 1500);
  const seen = block.within(unit(), -2, 10_000);
  assert.is(seen.length, 1500);
  assert.is(new Set(seen).size, 1500);
  // A moved key is found by its new vector, not its old one.
  assert.is(block.nearest(vecs[(3 * 7 + 1) % 1500]!, `k${(3 * 7 + 1) % 1500}`)!.key, 'k3');
});

test('addAll (rows written in runs) leaves a block as one add at a time does: keys re-added in one run, the index built part-way', () => {
  for (const options of [{ exactBelow: 300, lists: 8, probes: 8 }, { exactBelow: Infinity }]) {
    const one = new VectorBlock(DIM, 4, options);
    const all = new VectorBlock(DIM, 4, options);
    // 3,000 entries: 2,000 keys, then 50 keys re-added 20 times each, within the same runs.
    const entries = Array.from({ length: 3000 }, (_, i) => [`k${i < 2000 ? i : 2000 + (i % 50)}`, unit()] as const);
    for (const [k, v] of entries) one.add(k, v);
    all.addAll(entries);
    assert.is(all.size, 2050);
    for (let i = 0; i < 20; i++) {
      const q = unit();
      assert.equal(all.within(q, -2, 10_000), one.within(q, -2, 10_000));
    }
    for (const [key, vec] of entries.slice(-50)) assert.is(all.nearest(vec)!.key, key, `the last vector given for ${key} is the one kept`);
    one.close();
    all.close();
  }
});

test('a block scans exactly below exactBelow, then builds its index once; probing every list gives the full scan answers', () => {
  const block = new VectorBlock(DIM, 4, { exactBelow: 300, lists: 12, probes: 12 });
  const exact = new VectorBlock(DIM, 4, { exactBelow: Infinity });
  for (let i = 0; i < 299; i++) {
    const v = unit();
    block.add(`k${i}`, v);
    exact.add(`k${i}`, v);
  }
  assert.is(block.indexed, false);
  for (let i = 299; i < 600; i++) {
    const v = unit();
    block.add(`k${i}`, v);
    exact.add(`k${i}`, v);
  }
  assert.is(block.indexed, true);
  assert.is(exact.indexed, false);
  for (let q = 0; q < 50; q++) {
    const v = unit();
    assert.equal(block.nearest(v, 'k3'), exact.nearest(v, 'k3'));
  }
  // A re-added key is found at its new vector, not its old one.
  const far = unit();
  block.add('k10', far);
  const hit = block.nearest(far)!;
  assert.is(hit.key, 'k10');
  assert.ok(Math.abs(hit.score - dot(far, 0, far, 0, DIM)) <= hit.bound, 'its own vector, within the int8 bound');
  assert.is(block.size, 600);
});

test('on real titles, probing the default share of lists finds every near-duplicate a full scan finds', async () => {
  const read = (f: string) =>
    readFileSync(new URL(`../../../shared/data/products/${f}`, import.meta.url), 'utf8')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { title: string }).title);
  const train = read('train.jsonl').slice(0, 6000);
  const dev = read('dev.jsonl').slice(0, 1000);
  const embedder = await loadEmbedder('product-embed');
  const embed = async (titles: string[]) => {
    const out: Float32Array[] = [];
    for (let i = 0; i < titles.length; i += 128) out.push(...(await embedder.embed(titles.slice(i, i + 128))));
    return out;
  };
  const [tv, dv] = [await embed(train), await embed(dev)];
  await embedder.close();
  // The defaults' share of lists probed (12 of 128), at this block's scale.
  const lists = 64;
  const probes = Math.round((lists * INDEX_DEFAULTS.probes) / INDEX_DEFAULTS.lists);
  const ivf = new VectorBlock(embedder.dimension, 1024, { exactBelow: 1000, lists, probes });
  const exact = new VectorBlock(embedder.dimension, 1024, { exactBelow: Infinity });
  tv.forEach((v, i) => (ivf.add(`t${i}`, v), exact.add(`t${i}`, v)));
  let duplicates = 0;
  let found = 0;
  let sameTop = 0;
  for (const q of dv) {
    const e = exact.nearest(q)!;
    const a = ivf.nearest(q)!;
    if (a.key === e.key) sameTop++;
    if (e.score < 0.92) continue;
    duplicates++;
    if (a.score >= 0.92) found++;
  }
  assert.ok(duplicates > 50, `only ${duplicates} dev titles with a near-duplicate`);
  assert.ok(found / duplicates >= 0.99, `near-duplicates found ${found} of ${duplicates}`);
  assert.ok(sameTop / dv.length >= 0.9, `exact nearest found for ${sameTop} of ${dv.length}`);
});

test('settings.index: positive integers, unknown keys refused, the setting named', () => {
  assert.equal(parseIndexOptions('s', undefined), INDEX_DEFAULTS);
  assert.equal(parseIndexOptions('s', { probes: 4 }), { ...INDEX_DEFAULTS, probes: 4 });
  assert.throws(
    () => parseIndexOptions('stages.match.settings.index', { lists: 0 }),
    (e: unknown) => e instanceof ConfigError && /settings\.index\.lists/.test(e.message),
  );
  assert.throws(() => parseIndexOptions('stages.match.settings.index', { list: 3 }), /index\.list: unknown setting/);
  assert.throws(() => parseIndexOptions('stages.match.settings.index', [1]), /expected an object/);
});

test.run();
