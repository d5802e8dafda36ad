/** A feed's mix of categories from a model's outputs (EM, lib/models/prior-shift.ts) and category weights on logits. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { estimatePriorShift, meanDistribution, PriorShiftError, reweight } from '../../lib/models/prior-shift.js';
import { CategoryWeightsError, categoryLogOffsets } from '../../lib/models/category-weights.js';
import { categoryProbabilities, decodeClassification } from '../../lib/models/classifier.js';
import { modelNameOf } from '../../lib/models/provenance.js';
import type { ResolvedStage } from '../../lib/config/types.js';
import { stageModelVersion } from '../../stages/domain/model-options.js';

/** A seeded PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Rows of a calibrated model trained on the mix `trained`, for items drawn with the mix `mix`: items
 * of category c are points x ~ N(c, sigma²) on a line, and each row is the exact posterior
 * p(c|x) ∝ trained[c] · N(x; c, sigma²), as a perfectly calibrated model trained on that mix gives.
 */
function rows(mix: number[], trained: number[], n: number, seed: number, sigma = 0.6): number[][] {
  const next = rng(seed);
  const out: number[][] = [];
  for (let i = 0; i < n; i++) {
    let u = next();
    let cls = 0;
    while (cls < mix.length - 1 && u >= mix[cls]!) u -= mix[cls++]!;
    const x = cls + sigma * Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
    out.push(
      reweight(
        trained.map((_, c) => Math.exp(-((x - c) ** 2) / (2 * sigma * sigma))),
        trained,
      ),
    );
  }
  return out;
}

const near = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} is not within ${tol} of ${b}`);

test('EM recovers a shifted mix and gives weights = feed share / reference share', () => {
  const trained = [0.5, 0.3, 0.2];
  const mix = [0.1, 0.3, 0.6];
  const reference = meanDistribution(rows(trained, trained, 4000, 1));
  const shift = estimatePriorShift(rows(mix, trained, 4000, 2), reference);
  assert.ok(shift.converged);
  shift.shares.forEach((s, c) => near(s, mix[c]!, 0.04, `share of ${c}`));
  shift.weights.forEach((w, c) => near(w, mix[c]! / reference[c]!, 0.25, `weight of ${c}`));
  // Without the shift, the weights stay near 1.
  const same = estimatePriorShift(rows(trained, trained, 4000, 3), reference);
  same.weights.forEach((w, c) => near(w, 1, 0.12, `unshifted weight of ${c}`));
});

test('a category absent from the feed goes to weight ~0; reweighting then gets more rows right', () => {
  const trained = [0.4, 0.4, 0.2];
  const mix = [0.5, 0.5, 0];
  const reference = meanDistribution(rows(trained, trained, 3000, 4));
  const feed = rows(mix, trained, 3000, 5);
  const shift = estimatePriorShift(feed, reference);
  assert.ok(shift.weights[2]! < 0.1, `weight of the absent category: ${shift.weights[2]}`);
  const argmax = (p: number[]) => p.indexOf(Math.max(...p));
  const wrongBefore = feed.filter((p) => argmax(p) === 2).length;
  const wrongAfter = feed.filter((p) => argmax(reweight(p, shift.weights)) === 2).length;
  assert.ok(wrongBefore > 50 && wrongAfter < wrongBefore / 5, `rows given the absent category: ${wrongBefore} before, ${wrongAfter} after`);
});

test('maxWeight caps a category the reference almost never sees', () => {
  const reference = [0.599, 0.4, 0.001];
  // Every row leans a little towards the rare category: uncapped, EM runs away with it.
  const feed = Array.from({ length: 500 }, (_, i) => (i % 2 ? [0.6, 0.35, 0.05] : [0.3, 0.65, 0.05]));
  const capped = estimatePriorShift(feed, reference, { maxWeight: 10 });
  assert.is(capped.weights[2], 10);
  const uncapped = estimatePriorShift(feed, reference, { maxWeight: 1e9 });
  assert.ok(uncapped.weights[2]! > 100, `uncapped: ${uncapped.weights[2]}`);
});

test('bad inputs are PriorShiftErrors that say why', () => {
  assert.throws(
    () => estimatePriorShift([], [0.5, 0.5]),
    (e: unknown) => e instanceof PriorShiftError && /no feed rows/.test(e.message),
  );
  assert.throws(
    () => estimatePriorShift([[0.5, 0.5]], [1, 0]),
    (e: unknown) => e instanceof PriorShiftError && /category 1 must be > 0/.test(e.message),
  );
  assert.throws(
    () => estimatePriorShift([[0.5, 0.5]], [0.5, 0.5], { maxWeight: 0.5 }),
    (e: unknown) => e instanceof PriorShiftError && /maxWeight/.test(e.message),
  );
  assert.throws(
    () => meanDistribution([[0.5, 0.5], [1]]),
    (e: unknown) => e instanceof PriorShiftError && /1 and 2 categories/.test(e.message),
  );
});

test('category weights: offsets per fine label; decoding with them equals reweighting the categories', () => {
  const labels = ['audio/*', 'audio/headphones', 'storage/*', 'storage/usb flash drives', 'tv_video/*'];
  const logits = Float32Array.from([0.1, 0.35, 0.05, 0.3, 0.2], Math.log);
  const weights = { audio: 0.5, storage: 2 };
  const offsets = categoryLogOffsets(labels, weights);
  assert.equal(
    Array.from(offsets, (o) => Number(Math.exp(o).toFixed(6))),
    [0.5, 0.5, 2, 2, 1],
  );
  const shifted = Float32Array.from(logits, (v, i) => v + offsets[i]!);
  const expected = reweight(Array.from(categoryProbabilities(logits, 0, labels)), [0.5, 2, 1]);
  const got = decodeClassification(shifted, 0, labels);
  assert.is(got.label, 'storage');
  near(got.confidence, expected[1]!, 1e-6, 'storage after weights');
  // Without weights audio (0.45) wins over storage (0.35).
  assert.is(decodeClassification(logits, 0, labels).label, 'audio');
});

test('category weights that cannot apply are CategoryWeightsErrors naming the category', () => {
  const labels = ['audio/*', 'storage/*'];
  const refused = (w: Record<string, number>, why: RegExp) =>
    assert.throws(
      () => categoryLogOffsets(labels, w),
      (e: unknown) => e instanceof CategoryWeightsError && why.test(e.message),
    );
  refused({ audoi: 1 }, /audoi.*it has audio, storage/);
  refused({ audio: -1 }, /audio must be a finite number ≥ 0, got -1/);
  refused({ audio: Number.NaN }, /audio must be a finite number/);
  refused({ audio: 0, storage: 0 }, /every category has weight 0/);
});

test('a category named like an Object.prototype member (constructor, toString) keeps weight 1, not NaN offsets', () => {
  const labels = ['constructor/a', 'constructor/b', 'toString', 'audio'];
  const offsets = categoryLogOffsets(labels, { audio: 2 });
  assert.equal(Array.from(offsets), [0, 0, 0, Math.fround(Math.log(2))]);
  const decoded = decodeClassification(Float32Array.from([1, 1, 1, 1].map((l, i) => l + offsets[i]!)), 0, labels);
  assert.ok(Number.isFinite(decoded.confidence), JSON.stringify(decoded));
  assert.throws(
    () => categoryLogOffsets(labels, { valueOf: 1 }),
    (e: unknown) => e instanceof CategoryWeightsError && /valueOf/.test(e.message),
  );
});

test('a classify stage with category weights has a version of its own: other weights, another version; the model name stays', () => {
  const stage = (settings: Record<string, unknown>) =>
    ({ name: 'classify', kind: 'classify', model: 'product-category', settings }) as unknown as ResolvedStage;
  const plain = stageModelVersion(stage({}))!;
  assert.match(plain, /^product-category@sha256:[0-9a-f]{16}$/);
  const a = stageModelVersion(stage({ categoryWeights: { audio: 0.5, storage: 2 } }))!;
  assert.match(a, new RegExp(`^${plain.replace('+', '\\+')}\\+weights:[0-9a-f]{8}$`));
  assert.is(stageModelVersion(stage({ categoryWeights: { storage: 2, audio: 0.5 } })), a, 'the order of the keys does not matter');
  assert.is.not(stageModelVersion(stage({ categoryWeights: { audio: 0.6, storage: 2 } })), a);
  assert.is(modelNameOf(a), 'product-category');
  // Weights that change nothing ({} or all 1) leave the version as it is: reprocess has nothing to redo.
  assert.is(stageModelVersion(stage({ categoryWeights: {} })), plain);
  assert.is(stageModelVersion(stage({ categoryWeights: { audio: 1, storage: 1 } })), plain);
  assert.is(modelNameOf('some-hub/model+weights:0123abcd'), 'some-hub/model');
});

test.run();
