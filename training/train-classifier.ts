/**
 * product-category: mean of token embeddings → ReLU hidden layer → softmax over the
 * 15 categories (a fastText-style bag of WordPieces). Trained with Adam on
 * cross-entropy, with word dropout as augmentation.
 */
import type { ProductRow } from './data.js';
import { classifierGraph, type ClassifierWeights } from './graphs.js';
import { CATEGORIES } from './labels.js';
import { affine, accumulateBackward, argmax, softmax } from './nn.js';
import { Adam, Param } from './optim.js';
import type { Prng } from './prng.js';
import { dequantizeRows, quantizeRows } from './quantize.js';
import { encode, type Vocab } from './tokenizer.js';
import type { TrainedModel } from './trained-model.js';

export interface ClassifierOptions {
  dim: number;
  hidden: number;
  epochs: number;
  batch: number;
  lr: number;
  /** Probability of dropping each word piece from a training example. */
  wordDropout: number;
}

export const CLASSIFIER_DEFAULTS: ClassifierOptions = { dim: 64, hidden: 96, epochs: 5, batch: 32, lr: 3e-3, wordDropout: 0.3 };

interface Net {
  emb: Float32Array;
  w1: Float32Array;
  b1: Float32Array;
  w2: Float32Array;
  b2: Float32Array;
}

/**
 * Forward pass into `x` ([mean; max] of the token embeddings), `h` (hidden) and `z`
 * (logits); `arg[d]` records which token gave the max of dimension d.
 */
function forward(net: Net, ids: Int32Array, n: number, o: ClassifierOptions, x: Float32Array, arg: Int32Array, h: Float32Array, z: Float32Array): void {
  const D = o.dim;
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
  affine(x, 0, net.w1, net.b1, 2 * D, o.hidden, h, 0);
  for (let j = 0; j < o.hidden; j++) if (h[j]! < 0) h[j] = 0;
  affine(h, 0, net.w2, net.b2, o.hidden, CATEGORIES.length, z, 0);
}

function predictCategories(net: Net, o: ClassifierOptions, vocab: Vocab, titles: readonly string[]): number[] {
  const x = new Float32Array(2 * o.dim);
  const arg = new Int32Array(o.dim);
  const h = new Float32Array(o.hidden);
  const z = new Float32Array(CATEGORIES.length);
  return titles.map((title) => {
    const ids = encode(title, vocab).ids;
    forward(net, ids, ids.length, o, x, arg, h, z);
    return argmax(z, 0, z.length);
  });
}

export function trainClassifier(train: readonly ProductRow[], dev: readonly ProductRow[], vocab: Vocab, rng: Prng, o: ClassifierOptions): TrainedModel {
  const C = CATEGORIES.length;
  const V = vocab.tokens.length;
  const label = new Map<string, number>(CATEGORIES.map((c, i) => [c, i]));
  const data = train.map((r) => ({ ids: encode(r.title, vocab).ids, y: label.get(r.category) ?? -1 })).filter((e) => e.y >= 0);
  const E = Param.normal(V * o.dim, 0.1, rng, o.dim);
  const W1 = Param.normal(2 * o.dim * o.hidden, Math.sqrt(1 / o.dim), rng);
  const B1 = Param.zeros(o.hidden);
  const W2 = Param.normal(o.hidden * C, Math.sqrt(1 / o.hidden), rng);
  const B2 = Param.zeros(C);
  const net: Net = { emb: E.w, w1: W1.w, b1: B1.w, w2: W2.w, b2: B2.w };
  const adam = new Adam([E, W1, B1, W2, B2], { lr: o.lr });
  const x = new Float32Array(2 * o.dim);
  const arg = new Int32Array(o.dim);
  const h = new Float32Array(o.hidden);
  const z = new Float32Array(C);
  const dh = new Float32Array(o.hidden);
  const dx = new Float32Array(2 * o.dim);
  const kept = new Int32Array(256);
  const order = data.map((_, i) => i);
  const totalSteps = o.epochs * Math.ceil(data.length / o.batch);
  let step = 0;
  for (let epoch = 0; epoch < o.epochs; epoch++) {
    rng.shuffle(order);
    for (let b = 0; b < order.length; b += o.batch) {
      const end = Math.min(order.length, b + o.batch);
      for (let k = b; k < end; k++) {
        const ex = data[order[k]!]!;
        let n = 0;
        for (let t = 0; t < ex.ids.length && n < kept.length; t++) if (rng.next() >= o.wordDropout) kept[n++] = ex.ids[t]!;
        if (n === 0) kept[n++] = ex.ids[0]!;
        forward(net, kept, n, o, x, arg, h, z);
        softmax(z, 0, C);
        z[ex.y] = z[ex.y]! - 1; // dLoss/dlogits = p - onehot
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
  const table = quantizeRows(E.w, o.dim);
  const shipped: Net = { ...net, emb: dequantizeRows(table, o.dim) };
  const predicted = predictCategories(shipped, o, vocab, dev.map((r) => r.title));
  const correct = predicted.filter((p, i) => CATEGORIES[p] === dev[i]?.category).length;
  const weights: ClassifierWeights = { dim: o.dim, hidden: o.hidden, classes: C, table, w1: W1.w, b1: B1.w, w2: W2.w, b2: B2.w };
  return {
    graph: classifierGraph(weights),
    config: {
      architecture: 'BertForSequenceClassification',
      hiddenSize: o.dim,
      vocab,
      labels: CATEGORIES,
      description: `masked mean of ${o.dim}-d int8 WordPiece embeddings -> ${o.hidden} ReLU -> ${C} logits`,
    },
    metrics: { dev_accuracy: round4(dev.length > 0 ? correct / dev.length : 0), dev_rows: dev.length },
  };
}

export const round4 = (v: number): number => Math.round(v * 1e4) / 1e4;
