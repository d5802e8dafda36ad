/**
 * The product-category graph's computation in TypeScript, on the dequantised (shipped) weights:
 * used to fit the mixing weights and to measure the model at build time.
 */
import { bigramIds, mappedIds } from './features.js';
import type { EnsembleWeights, MlpBranch } from './graph-classifier.js';
import { mlpForward, mlpInputIds, MlpScratch, type MlpNet } from './classifier-mlp.js';
import { dequantizeRows } from './quantize.js';
import { logSoftmax } from './ensemble.js';
import { encode, type Vocab } from './tokenizer.js';

export interface ShippedEnsemble extends EnsembleWeights {
  dequantized: { nbUnigram: Float32Array; nbBigram: Float32Array; nets?: MlpNet[] };
}

function nets(m: ShippedEnsemble): MlpNet[] {
  m.dequantized.nets ??= m.mlps.map((b: MlpBranch) => ({
    dim: b.dim,
    hidden: b.hidden,
    classes: b.classes,
    emb: dequantizeRows(b.table, b.dim),
    w1: b.w1,
    b1: b.b1,
    w2: b.w2,
    b2: b.b2,
  }));
  return m.dequantized.nets;
}

/**
 * Component scores of one title, in graph order: naive Bayes, then each MLP branch
 * (log-softmax; a fine branch as log Σ_{f∈c} p(f)). Also the fine branch's probabilities.
 */
export function classifierComponents(m: ShippedEnsemble, vocab: Vocab, title: string): { scores: Float32Array[]; fine: Float32Array | null } {
  const C = m.classes;
  const ids = mappedIds(encode(title, vocab).ids, m.shapeMap);
  const nb = Float32Array.from(m.nb.prior);
  for (const id of ids) for (let c = 0; c < C; c++) nb[c] = nb[c]! + m.dequantized.nbUnigram[id * C + c]!;
  for (const id of bigramIds(ids, m.nb.buckets)) for (let c = 0; c < C; c++) nb[c] = nb[c]! + m.dequantized.nbBigram[id * C + c]!;
  const scores: Float32Array[] = [nb];
  let fine: Float32Array | null = null;
  nets(m).forEach((net, k) => {
    const b = m.mlps[k]!;
    const input = mlpInputIds(ids, m.vocab, b.bigramBuckets);
    const z = mlpForward(net, input, input.length, new MlpScratch(net));
    if (b.coarseOf === null) {
      scores.push(logSoftmax(z));
      return;
    }
    const p = logSoftmax(z).map(Math.exp);
    fine = p;
    const sum = new Float32Array(C);
    p.forEach((v, f) => (sum[b.coarseOf![f]!] = sum[b.coarseOf![f]!]! + v));
    scores.push(Float32Array.from(sum, (s) => Math.log(s + 1e-12)));
  });
  return { scores, fine };
}

export function classifierScores(m: ShippedEnsemble, vocab: Vocab, title: string): Float32Array[] {
  return classifierComponents(m, vocab, title).scores;
}

export interface EnsemblePrediction {
  /** Calibrated coarse probabilities. */
  coarse: Float32Array;
  /** Probabilities of the output labels (fine labels, or the coarse classes). */
  labels: Float32Array;
}

/** What the graph outputs (after softmax) for one title. */
export function predictEnsemble(m: ShippedEnsemble, vocab: Vocab, title: string): EnsemblePrediction {
  const { scores, fine } = classifierComponents(m, vocab, title);
  const weights = [m.nb.weight, ...m.mlps.map((b) => b.weight)];
  const z = new Float32Array(m.classes);
  scores.forEach((s, k) => s.forEach((v, c) => (z[c] = z[c]! + weights[k]! * v)));
  const coarse = logSoftmax(z).map(Math.exp);
  if (fine === null) return { coarse, labels: coarse };
  const f: Float32Array = fine;
  const inCoarse = new Float32Array(m.classes);
  f.forEach((v, i) => (inCoarse[m.coarseOf[i]!] = inCoarse[m.coarseOf[i]!]! + v));
  const labels = Float32Array.from(f, (v, i) => coarse[m.coarseOf[i]!]! * ((v + 1e-12) / (inCoarse[m.coarseOf[i]!]! + 1e-12)));
  return { coarse, labels };
}
