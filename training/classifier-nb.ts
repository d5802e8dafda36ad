/**
 * The generative half of product-category: multinomial naive Bayes over shape-mapped
 * WordPiece unigrams and hashed bigrams of adjacent ids, counted on the training titles
 * (and on perturbed copies of them). Each feature's row of log-likelihoods is centred over
 * the classes, so a feature never seen in training adds nothing; in the graph both tables
 * are embedding bags (Gather → masked sum).
 */
import type { ProductRow } from './data.js';
import { bigramIds, mappedIds } from './features.js';
import { perturbTitle, type PerturbOptions } from './perturb.js';
import type { Prng } from './prng.js';
import { encode, type Vocab } from './tokenizer.js';

export interface NbOptions {
  /** Additive smoothing of the counts. */
  alpha: number;
  /** Perturbed copies of each title counted besides the title itself (weight 1 each). */
  perturbedCopies: number;
  perturb: PerturbOptions;
}

export interface NbTables {
  classes: number;
  /** [vocab, classes] centred log-likelihoods of unigram features. */
  unigram: Float32Array;
  /** [buckets, classes] centred log-likelihoods of bigram buckets. */
  bigram: Float32Array;
  /** log class priors. */
  prior: Float32Array;
  buckets: number;
}

export function trainNb(
  rows: readonly ProductRow[],
  labelOf: (r: ProductRow) => number,
  classes: number,
  vocab: Vocab,
  map: Int32Array,
  buckets: number,
  rng: Prng,
  o: NbOptions,
): NbTables {
  const C = classes;
  const V = vocab.tokens.length;
  const uc = new Float64Array(V * C);
  const bc = new Float64Array(buckets * C);
  const total = new Float64Array(C);
  const docs = new Float64Array(C);
  const count = (title: string, c: number): void => {
    const u = mappedIds(encode(title, vocab).ids, map);
    for (const id of u) uc[id * C + c]!++;
    for (const id of bigramIds(u, buckets)) bc[id * C + c]!++;
    total[c]! += u.length + Math.max(0, u.length - 1);
  };
  let n = 0;
  for (const r of rows) {
    const c = labelOf(r);
    if (c < 0) continue;
    docs[c]!++;
    n++;
    count(r.title, c);
    for (let k = 0; k < o.perturbedCopies; k++) count(perturbTitle(r, rng, o.perturb), c);
  }
  let seen = 0;
  const rowSum = (cnt: Float64Array, i: number): number => {
    let s = 0;
    for (let c = 0; c < C; c++) s += cnt[i * C + c]!;
    return s;
  };
  for (let i = 0; i < V; i++) if (rowSum(uc, i) > 0) seen++;
  for (let i = 0; i < buckets; i++) if (rowSum(bc, i) > 0) seen++;
  const logDenom = Float64Array.from(total, (t) => Math.log(t + o.alpha * seen));
  const table = (cnt: Float64Array, rowsN: number): Float32Array => {
    const out = new Float32Array(rowsN * C);
    for (let i = 0; i < rowsN; i++) {
      if (rowSum(cnt, i) === 0) continue;
      let mean = 0;
      for (let c = 0; c < C; c++) mean += Math.log(cnt[i * C + c]! + o.alpha) - logDenom[c]!;
      mean /= C;
      for (let c = 0; c < C; c++) out[i * C + c] = Math.log(cnt[i * C + c]! + o.alpha) - logDenom[c]! - mean;
    }
    return out;
  };
  // Classes without rows keep a finite (very low) prior.
  const prior = Float32Array.from(docs, (d) => Math.log(Math.max(d, 0.01) / Math.max(1, n)));
  return { classes: C, unigram: table(uc, V), bigram: table(bc, buckets), prior, buckets };
}

/** NB scores (log prior + summed centred log-likelihoods) of shape-mapped ids into `out`. */
export function nbScores(nb: NbTables, mapped: Int32Array, out: Float32Array): Float32Array {
  const C = nb.classes;
  out.set(nb.prior);
  for (const id of mapped) for (let c = 0; c < C; c++) out[c] = out[c]! + nb.unigram[id * C + c]!;
  for (const id of bigramIds(mapped, nb.buckets)) for (let c = 0; c < C; c++) out[c] = out[c]! + nb.bigram[id * C + c]!;
  return out;
}
