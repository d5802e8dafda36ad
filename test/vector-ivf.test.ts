/**
 * The match stage's IVF index (stages/domain/ivf.ts, vector-index.ts): exact below `exactBelow`,
 * the same answers as a full scan when every list is probed, re-added keys move, and on real
 * product titles the default share of lists probed finds the near-duplicates a full scan finds.
 */
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadEmbedder } from '../lib/models/embedder.js';
import { ConfigError } from '../lib/core/errors.js';
import { dot, InvertedLists, trainCentroids } from '../stages/domain/ivf.js';
import { INDEX_DEFAULTS, parseIndexOptions, VectorBlock } from '../stages/domain/vector-index.js';
import { Prng } from '../training/prng.js';

const DIM = 16;
const rng = new Prng(7);
function unit(dim = DIM): Float32Array {
  const v = new Float32Array(dim);
  for (let i = 0; i < dim; i++) v[i] = rng.next() * 2 - 1;
  const n = Math.sqrt(dot(v, 0, v, 0, dim));
  return v.map((x) => x / n);
}

test('k-means centroids are unit vectors; every slot is visited once when all lists are probed, and a re-filed slot only in its new list', () => {
  const n = 500;
  const data = new Float32Array(n * DIM);
  for (let i = 0; i < n; i++) data.set(unit(), i * DIM);
  const k = 10;
  const centroids = trainCentroids(data, DIM, n, k, 5, 200);
  for (let c = 0; c < k; c++) assert.ok(Math.abs(dot(centroids, c * DIM, centroids, c * DIM, DIM) - 1) < 1e-5, `centroid ${c} is unit length`);
  const lists = new InvertedLists(centroids, DIM);
  for (let i = 0; i < n; i++) lists.file(i, data);
  const seen: number[] = [];
  lists.scan(unit(), k, (s) => seen.push(s));
  assert.equal(
    [...seen].sort((a, b) => a - b),
    Array.from({ length: n }, (_, i) => i),
  );
  // Slot 0 re-filed under the list of slot 1's vector: visited once, from there.
  data.set(data.subarray(DIM, 2 * DIM), 0);
  lists.file(0, data);
  const again: number[] = [];
  lists.scan(unit(), k, (s) => again.push(s));
  assert.is(again.filter((s) => s === 0).length, 1);
  assert.is(again.length, n);
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
    readFileSync(new URL(`../../shared/data/products/${f}`, import.meta.url), 'utf8')
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
