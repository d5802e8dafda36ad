/**
 * The discriminative half of product-category: shape-mapped WordPiece embeddings →
 * [masked mean; masked max] → ReLU layer → logits, trained with Adam on label-smoothed
 * cross-entropy over perturbed titles (brand / model number removed, truncated) with
 * word-piece dropout, so it cannot lean on the tokens other retailers leave out.
 */
import type { ProductRow } from './data.js';
import { bigramIds, mappedIds } from './features.js';
import { affine, accumulateBackward, softmax } from './nn.js';
import { Adam, Param } from './optim.js';
import { perturbTitle, type PerturbOptions } from './perturb.js';
import type { Prng } from './prng.js';
import { encode, type Vocab } from './tokenizer.js';

export interface MlpOptions {
  dim: number;
  hidden: number;
  epochs: number;
  batch: number;
  lr: number;
  /** Probability of dropping each word piece of a training example. */
  wordDropout: number;
  /** Label smoothing ε: the target puts ε/C on every class. */
  labelSmoothing: number;
  /** Hash buckets of bigram embeddings pooled with the unigrams (0: unigrams only). */
  bigramBuckets: number;
  perturb: PerturbOptions;
}

/**
 * The ids the MLP pools: shape-mapped unigrams, then (with `buckets` > 0) vocab + bucket of each
 * adjacent pair, so one embedding table of vocab + buckets rows holds both.
 */
export function mlpInputIds(mapped: Int32Array, vocabSize: number, buckets: number): Int32Array {
  if (buckets === 0) return mapped;
  const out = new Int32Array(mapped.length + Math.max(0, mapped.length - 1));
  out.set(mapped);
  bigramIds(mapped, buckets).forEach((b, i) => (out[mapped.length + i] = vocabSize + b));
  return out;
}

export interface MlpNet {
  dim: number;
  hidden: number;
  classes: number;
  emb: Float32Array;
  w1: Float32Array;
  b1: Float32Array;
  w2: Float32Array;
  b2: Float32Array;
}

/** Scratch buffers of one forward pass. */
export class MlpScratch {
  readonly x: Float32Array;
  readonly arg: Int32Array;
  readonly h: Float32Array;
  readonly z: Float32Array;
  constructor(net: Pick<MlpNet, 'dim' | 'hidden' | 'classes'>) {
    this.x = new Float32Array(2 * net.dim);
    this.arg = new Int32Array(net.dim);
    this.h = new Float32Array(net.hidden);
    this.z = new Float32Array(net.classes);
  }
}

/** Logits of `ids` (already shape-mapped) into `s.z`. */
export function mlpForward(net: MlpNet, ids: Int32Array, n: number, s: MlpScratch): Float32Array {
  const D = net.dim;
  const { x, arg, h, z } = s;
  x.fill(0, 0, D);
  x.fill(-Infinity, D, 2 * D);
  for (let t = 0; t < n; t++) {
    const row = ids[t]! * D;
    for (let d = 0; d < D; d++) {
      const v = net.emb[row + d]!;
      x[d] = x[d]! + v;
      if (v > x[D + d]!) {
        x[D + d] = v;
        arg[d] = t;
      }
    }
  }
  for (let d = 0; d < D; d++) x[d] = x[d]! / n;
  affine(x, 0, net.w1, net.b1, 2 * D, net.hidden, h, 0);
  for (let j = 0; j < net.hidden; j++) if (h[j]! < 0) h[j] = 0;
  affine(h, 0, net.w2, net.b2, net.hidden, net.classes, z, 0);
  return z;
}

export function trainMlp(
  rows: readonly ProductRow[],
  labelOf: (r: ProductRow) => number,
  classes: number,
  vocab: Vocab,
  map: Int32Array,
  rng: Prng,
  o: MlpOptions,
): MlpNet {
  const V = vocab.tokens.length + o.bigramBuckets;
  const C = classes;
  const data = rows.map((r) => ({ row: r, y: labelOf(r) })).filter((e) => e.y >= 0);
  const E = Param.normal(V * o.dim, 0.1, rng, o.dim);
  const W1 = Param.normal(2 * o.dim * o.hidden, Math.sqrt(1 / o.dim), rng);
  const B1 = Param.zeros(o.hidden);
  const W2 = Param.normal(o.hidden * C, Math.sqrt(1 / o.hidden), rng);
  const B2 = Param.zeros(C);
  const net: MlpNet = { dim: o.dim, hidden: o.hidden, classes: C, emb: E.w, w1: W1.w, b1: B1.w, w2: W2.w, b2: B2.w };
  const adam = new Adam([E, W1, B1, W2, B2], { lr: o.lr });
  const s = new MlpScratch(net);
  const { x, arg, h, z } = s;
  const dh = new Float32Array(o.hidden);
  const dx = new Float32Array(2 * o.dim);
  const kept = new Int32Array(512);
  const order = data.map((_, i) => i);
  const totalSteps = o.epochs * Math.ceil(data.length / o.batch);
  const smooth = o.labelSmoothing / C;
  let step = 0;
  for (let epoch = 0; epoch < o.epochs; epoch++) {
    rng.shuffle(order);
    for (let b = 0; b < order.length; b += o.batch) {
      const end = Math.min(order.length, b + o.batch);
      for (let k = b; k < end; k++) {
        const ex = data[order[k]!]!;
        const ids = mlpInputIds(mappedIds(encode(perturbTitle(ex.row, rng, o.perturb), vocab).ids, map), vocab.tokens.length, o.bigramBuckets);
        let n = 0;
        for (let t = 0; t < ids.length && n < kept.length; t++) if (rng.next() >= o.wordDropout) kept[n++] = ids[t]!;
        if (n === 0) kept[n++] = ids[0]!;
        mlpForward(net, kept, n, s);
        softmax(z, 0, C);
        for (let c = 0; c < C; c++) z[c] = z[c]! - smooth;
        z[ex.y] = z[ex.y]! - (1 - o.labelSmoothing); // dLoss/dlogits = p - target
        dh.fill(0);
        accumulateBackward(h, 0, W2.w, 0, o.hidden, C, z, 0, W2.g, dh, 0);
        for (let c = 0; c < C; c++) B2.g[c] = B2.g[c]! + z[c]!;
        for (let j = 0; j < o.hidden; j++) if (h[j]! <= 0) dh[j] = 0;
        dx.fill(0);
        accumulateBackward(x, 0, W1.w, 0, 2 * o.dim, o.hidden, dh, 0, W1.g, dx, 0);
        for (let j = 0; j < o.hidden; j++) B1.g[j] = B1.g[j]! + dh[j]!;
        for (let t = 0; t < n; t++) {
          const id = kept[t]!;
          const row = id * o.dim;
          E.touch(id);
          for (let d = 0; d < o.dim; d++) E.g[row + d] = E.g[row + d]! + dx[d]! / n;
        }
        // The max half of the pooled vector sends its gradient to the arg-max token only.
        for (let d = 0; d < o.dim; d++) {
          const i = kept[arg[d]!]! * o.dim + d;
          E.g[i] = E.g[i]! + dx[o.dim + d]!;
        }
      }
      // Linear decay to 10 % of the initial rate.
      adam.lr = o.lr * (1 - 0.9 * (step++ / totalSteps));
      adam.step(1 / (end - b));
    }
  }
  return net;
}
