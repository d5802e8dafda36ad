/**
 * product-embed: per-token tanh(E[id]·P + b), mean-pooled with the attention mask
 * and L2-normalised by the caller. Trained with two objectives on the pooled,
 * normalised vector z:
 *  - in-batch contrastive (InfoNCE): two word-dropout views of the same title
 *    must be nearest to each other, so near-duplicate titles embed close;
 *  - cosine-softmax heads over category and frequent brands, so titles of the
 *    same category or brand cluster. The heads are discarded after training.
 */
import type { ProductRow } from './data.js';
import { embedderGraph } from './graphs.js';
import { CATEGORIES, foldValue } from './labels.js';
import { accumulate, accumulateBackward, softmax } from './nn.js';
import { Adam, Param } from './optim.js';
import type { Prng } from './prng.js';
import { dequantizeRows, quantizeRows } from './quantize.js';
import { encode, type Vocab } from './tokenizer.js';
import { round4 } from './train-classifier.js';
import type { TrainedModel } from './trained-model.js';

export interface EmbedderOptions {
  dim: number;
  out: number;
  epochs: number;
  batch: number;
  lr: number;
  wordDropout: number;
  /** Softmax temperature of the contrastive and head logits. */
  temperature: number;
  /** Brands with at least this many training titles get a head class. */
  minBrandCount: number;
}

export const EMBEDDER_DEFAULTS: EmbedderOptions = {
  dim: 64,
  out: 96,
  epochs: 2,
  batch: 64,
  lr: 3e-3,
  wordDropout: 0.2,
  temperature: 0.1,
  minBrandCount: 5,
};

interface Net {
  emb: Float32Array;
  proj: Float32Array;
  bias: Float32Array;
}

/** Pooled, normalised embedding of `ids` into z; token activations into h (for backprop). */
function embed(net: Net, ids: Int32Array, n: number, o: EmbedderOptions, h: Float32Array, z: Float32Array): number {
  z.fill(0);
  for (let t = 0; t < n; t++) {
    const ho = t * o.out;
    for (let j = 0; j < o.out; j++) h[ho + j] = net.bias[j]!;
    accumulate(net.emb, ids[t]! * o.dim, net.proj, 0, o.dim, o.out, h, ho);
    for (let j = 0; j < o.out; j++) {
      h[ho + j] = Math.tanh(h[ho + j]!);
      z[j] = z[j]! + h[ho + j]! / n;
    }
  }
  let norm = 0;
  for (let j = 0; j < o.out; j++) norm += z[j]! * z[j]!;
  norm = Math.sqrt(norm) || 1;
  for (let j = 0; j < o.out; j++) z[j] = z[j]! / norm;
  return norm;
}

/** Embeddings of titles as the pipeline computes them (mean-pool, L2-normalise). */
function embedAll(net: Net, titles: readonly string[], vocab: Vocab, o: EmbedderOptions): Float32Array[] {
  const h = new Float32Array(128 * o.out);
  return titles.map((title) => {
    const ids = encode(title, vocab).ids;
    const z = new Float32Array(o.out);
    embed(net, ids, ids.length, o, h, z);
    return z;
  });
}

/** Leave-one-out nearest neighbour in `vecs` (cosine: vectors are unit length). */
function nearest(vecs: readonly Float32Array[], q: Float32Array, skip: number): number {
  let best = -1;
  let bestSim = -Infinity;
  for (let i = 0; i < vecs.length; i++) {
    if (i === skip) continue;
    let s = 0;
    for (let j = 0; j < q.length; j++) s += q[j]! * vecs[i]![j]!;
    if (s > bestSim) {
      bestSim = s;
      best = i;
    }
  }
  return best;
}

/** Drops one word and lower-cases another: a near-duplicate listing of the same product. */
function perturb(title: string, rng: Prng): string {
  const words = title.split(' ');
  if (words.length > 2) words.splice(1 + rng.int(words.length - 1), 1);
  const i = rng.int(words.length);
  words[i] = words[i]!.toLowerCase();
  return words.join(' ');
}

function evaluate(net: Net, dev: readonly ProductRow[], vocab: Vocab, o: EmbedderOptions, rng: Prng): Record<string, number> {
  const vecs = embedAll(
    net,
    dev.map((r) => r.title),
    vocab,
    o,
  );
  const dups = embedAll(
    net,
    dev.map((r) => perturb(r.title, rng)),
    vocab,
    o,
  );
  const brandCount = new Map<string, number>();
  for (const r of dev) if (r.brand) brandCount.set(foldValue(r.brand), (brandCount.get(foldValue(r.brand)) ?? 0) + 1);
  let dupOk = 0,
    catOk = 0,
    brandN = 0,
    brandOk = 0;
  dev.forEach((r, i) => {
    if (nearest(vecs, dups[i]!, -1) === i) dupOk++;
    const nn = nearest(vecs, vecs[i]!, i);
    if (dev[nn]!.category === r.category) catOk++;
    if (r.brand && (brandCount.get(foldValue(r.brand)) ?? 0) > 1) {
      brandN++;
      if (foldValue(dev[nn]!.brand ?? '') === foldValue(r.brand)) brandOk++;
    }
  });
  const n = dev.length || 1;
  return {
    near_duplicate_recall_at_1: round4(dupOk / n),
    category_nn_accuracy: round4(catOk / n),
    brand_nn_accuracy: round4(brandN ? brandOk / brandN : 0),
    dev_rows: dev.length,
  };
}

export function trainEmbedder(train: readonly ProductRow[], dev: readonly ProductRow[], vocab: Vocab, rng: Prng, o: EmbedderOptions): TrainedModel {
  const V = vocab.tokens.length;
  const M = o.out;
  const brandCounts = new Map<string, number>();
  for (const r of train) if (r.brand) brandCounts.set(foldValue(r.brand), (brandCounts.get(foldValue(r.brand)) ?? 0) + 1);
  const brands = [...brandCounts.entries()]
    .filter(([, n]) => n >= o.minBrandCount)
    .map(([b]) => b)
    .sort();
  const brandIndex = new Map(brands.map((b, i) => [b, i]));
  const catIndex = new Map<string, number>(CATEGORIES.map((c, i) => [c, i]));
  const data = train.map((r) => ({
    ids: encode(r.title, vocab).ids,
    cat: catIndex.get(r.category) ?? -1,
    brand: r.brand ? (brandIndex.get(foldValue(r.brand)) ?? -1) : -1,
  }));
  const E = Param.normal(V * o.dim, 0.1, rng, o.dim);
  const P = Param.normal(o.dim * M, Math.sqrt(1 / o.dim), rng);
  const Bp = Param.zeros(M);
  const Wc = Param.normal(M * CATEGORIES.length, 0.1, rng);
  const Wb = Param.normal(M * brands.length, 0.1, rng);
  const net: Net = { emb: E.w, proj: P.w, bias: Bp.w };
  const adam = new Adam([E, P, Bp, Wc, Wb], { lr: o.lr });
  const B = o.batch;
  // Per batch: 2 views × B examples of token activations, pooled z, norms, dL/dz.
  const maxT = 128;
  const h = Array.from({ length: 2 * B }, () => new Float32Array(maxT * M));
  const z = Array.from({ length: 2 * B }, () => new Float32Array(M));
  const dz = Array.from({ length: 2 * B }, () => new Float32Array(M));
  const ids = Array.from({ length: 2 * B }, () => new Int32Array(maxT));
  const lens = new Int32Array(2 * B);
  const norms = new Float64Array(2 * B);
  const logits = new Float32Array(Math.max(B, CATEGORIES.length, brands.length));
  const order = data.map((_, i) => i);
  const totalSteps = o.epochs * Math.ceil(data.length / B);
  let step = 0;
  const invT = 1 / o.temperature;

  /** Softmax cross-entropy on logits[0..n) (already scaled) with target y; returns p - onehot in logits. */
  const ceGrad = (n: number, y: number): void => {
    softmax(logits, 0, n);
    logits[y] = logits[y]! - 1;
  };
  /** Linear head on z[v] with weights W [M, classes]: adds gradients to W.g and dz[v]. */
  const head = (v: number, W: Param, classes: number, y: number): void => {
    logits.fill(0, 0, classes);
    accumulate(z[v]!, 0, W.w, 0, M, classes, logits, 0);
    for (let c = 0; c < classes; c++) logits[c] = logits[c]! * invT;
    ceGrad(classes, y);
    for (let c = 0; c < classes; c++) logits[c] = logits[c]! * invT;
    accumulateBackward(z[v]!, 0, W.w, 0, M, classes, logits, 0, W.g, dz[v]!, 0);
  };

  for (let epoch = 0; epoch < o.epochs; epoch++) {
    rng.shuffle(order);
    for (let b0 = 0; b0 + 1 < order.length; b0 += B) {
      const nb = Math.min(B, order.length - b0);
      for (let v = 0; v < 2 * nb; v++) {
        const ex = data[order[b0 + (v % nb)]!]!;
        let n = 0;
        for (let t = 0; t < ex.ids.length && n < maxT; t++) if (rng.next() >= o.wordDropout) ids[v]![n++] = ex.ids[t]!;
        if (n === 0) ids[v]![n++] = ex.ids[0]!;
        lens[v] = n;
        norms[v] = embed(net, ids[v]!, n, o, h[v]!, z[v]!);
        dz[v]!.fill(0);
      }
      // InfoNCE: view a of example i against views b of all examples in the batch, both ways.
      for (let dir = 0; dir < 2; dir++) {
        for (let i = 0; i < nb; i++) {
          const qa = dir === 0 ? i : nb + i;
          for (let k = 0; k < nb; k++) {
            const kb = dir === 0 ? nb + k : k;
            let s = 0;
            for (let j = 0; j < M; j++) s += z[qa]![j]! * z[kb]![j]!;
            logits[k] = s * invT;
          }
          ceGrad(nb, i);
          for (let k = 0; k < nb; k++) {
            const g = logits[k]! * invT;
            if (g === 0) continue;
            const kb = dir === 0 ? nb + k : k;
            for (let j = 0; j < M; j++) {
              dz[qa]![j] = dz[qa]![j]! + g * z[kb]![j]!;
              dz[kb]![j] = dz[kb]![j]! + g * z[qa]![j]!;
            }
          }
        }
      }
      for (let v = 0; v < nb; v++) {
        const ex = data[order[b0 + v]!]!;
        if (ex.cat >= 0) head(v, Wc, CATEGORIES.length, ex.cat);
        if (ex.brand >= 0) head(v, Wb, brands.length, ex.brand);
      }
      // Back through L2 normalisation, mean pooling and tanh into P, b and E.
      const du = new Float32Array(M);
      const da = new Float32Array(M);
      for (let v = 0; v < 2 * nb; v++) {
        let dot = 0;
        for (let j = 0; j < M; j++) dot += z[v]![j]! * dz[v]![j]!;
        for (let j = 0; j < M; j++) du[j] = (dz[v]![j]! - z[v]![j]! * dot) / norms[v]!;
        const n = lens[v]!;
        for (let t = 0; t < n; t++) {
          const ho = t * M;
          for (let j = 0; j < M; j++) {
            const a = h[v]![ho + j]!;
            da[j] = (du[j]! / n) * (1 - a * a);
            Bp.g[j] = Bp.g[j]! + da[j]!;
          }
          const id = ids[v]![t]!;
          E.touch(id);
          accumulateBackward(E.w, id * o.dim, P.w, 0, o.dim, M, da, 0, P.g, E.g, id * o.dim);
        }
      }
      adam.lr = o.lr * (1 - 0.9 * (step++ / totalSteps));
      adam.step(1 / nb);
    }
  }
  const table = quantizeRows(E.w, o.dim);
  const shipped: Net = { ...net, emb: dequantizeRows(table, o.dim) };
  return {
    graph: embedderGraph({ dim: o.dim, out: M, table, proj: P.w, bias: Bp.w }),
    config: {
      architecture: 'BertModel',
      hiddenSize: M,
      vocab,
      description: `per-token tanh(${o.dim}-d int8 WordPiece embedding x P + b) -> ${M}-d last_hidden_state; mean-pool with the mask and L2-normalise`,
    },
    metrics: evaluate(shipped, dev, vocab, o, rng.fork(1)),
  };
}
