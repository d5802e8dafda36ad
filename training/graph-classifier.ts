/**
 * ONNX graph of product-category: an ensemble of naive Bayes and MLPs over shape-mapped
 * WordPiece ids, computed entirely in the graph from `input_ids` / `attention_mask`.
 *
 *   mapped  = Gather(shape_map, input_ids)                       digit pieces → one id
 *   nb      = prior + Σ_t mask·U[mapped_t] + Σ_t mask·B[hash(mapped_t, mapped_t+1)]
 *   mlp_k   = LogSoftmax(W2·ReLU(W1·[mean; max](E_k[ids_k]) + b1) + b2)
 *   coarse  = LogSoftmax(Σ_k w_k · s_k)       (fine MLP enters as log Σ_{f∈c} p(f))
 *   logits  = coarse[c(f)] + log p_fine(f | c(f))   [batch, fine labels]
 *
 * so softmax(logits) summed over a coarse class's fine labels is exactly softmax(coarse).
 * Only standard opset-13 ops; embedding tables are int8 with one scale per row.
 */
import { DType, OnnxGraph } from './onnx-writer.js';
import type { QuantizedTable } from './quantize.js';

const SEQ = ['batch', 'sequence'];

export interface MlpBranch {
  name: string;
  dim: number;
  hidden: number;
  classes: number;
  table: QuantizedTable;
  /** Bigram buckets appended to the unigram ids (0: unigrams only). */
  bigramBuckets: number;
  w1: Float32Array;
  b1: Float32Array;
  w2: Float32Array;
  b2: Float32Array;
  /** For a fine-label branch, the coarse class of each output; null for a coarse branch. */
  coarseOf: Int32Array | null;
  weight: number;
}

export interface EnsembleWeights {
  vocab: number;
  classes: number;
  shapeMap: Int32Array;
  multiplier: number;
  nb: { unigram: QuantizedTable; bigram: QuantizedTable; prior: Float32Array; buckets: number; weight: number };
  mlps: MlpBranch[];
  /** Coarse class of each output label. */
  coarseOf: Int32Array;
}

const i64 = (a: Int32Array): BigInt64Array => BigInt64Array.from(a, (v) => BigInt(v));

/**
 * Gather of int8 rows × per-row scale → float [batch, seq, dim], padding rows zeroed: the mask is
 * folded into the [batch, seq, 1] scale, so the full-size tensor is multiplied once.
 */
function lookup(g: OnnxGraph, name: string, table: QuantizedTable, rowSize: number, ids: string, mask3: string): string {
  g.init(`${name}.q`, [table.scale.length, rowSize], table.q);
  g.init(`${name}.scale`, [table.scale.length, 1], table.scale);
  const rows = g.op('Cast', [g.op('Gather', [`${name}.q`, ids], { axis: 0 })], { to: DType.FLOAT });
  return g.op('Mul', [rows, g.op('Mul', [g.op('Gather', [`${name}.scale`, ids], { axis: 0 }), mask3])]);
}

function dense(g: OnnxGraph, x: string, name: string, w: Float32Array, b: Float32Array, nIn: number, nOut: number): string {
  g.init(`${name}.weight`, [nIn, nOut], w);
  g.init(`${name}.bias`, [nOut], b);
  return g.op('Add', [g.op('MatMul', [x, `${name}.weight`]), `${name}.bias`]);
}

export function ensembleClassifierGraph(m: EnsembleWeights): OnnxGraph {
  const g = new OnnxGraph('product-category');
  const ids = g.input('input_ids', DType.INT64, SEQ);
  const attention = g.input('attention_mask', DType.INT64, SEQ);
  const C = m.classes;
  g.init('shape_map', [m.vocab], i64(m.shapeMap));
  const mapped = g.op('Gather', ['shape_map', ids], { axis: 0 });
  const mask = g.op('Cast', [attention], { to: DType.FLOAT });
  const axis1 = g.ints('axes.1', [1]);
  const axis2 = g.ints('axes.2', [2]);
  g.ints('start.0', [0]);
  g.ints('start.1', [1]);
  g.ints('end.-1', [-1]);
  g.ints('end.max', [2 ** 62]);
  g.init('one', [], Float32Array.of(1));
  g.init('neg_big', [], Float32Array.of(1e9));
  g.init('eps', [], Float32Array.of(1e-12));
  // Adjacent pairs: left = [:, :-1], right = [:, 1:]; a pair counts when both tokens are real.
  const left = g.op('Slice', [mapped, 'start.0', 'end.-1', axis1]);
  const right = g.op('Slice', [mapped, 'start.1', 'end.max', axis1]);
  const pairMask = g.op('Mul', [g.op('Slice', [mask, 'start.0', 'end.-1', axis1]), g.op('Slice', [mask, 'start.1', 'end.max', axis1])]);
  g.ints('bigram.multiplier', [m.multiplier]);
  const pairHash = (buckets: number, name: string): string => {
    g.ints(`${name}.buckets`, [buckets]);
    return g.op('Mod', [g.op('Add', [g.op('Mul', [left, 'bigram.multiplier']), right]), `${name}.buckets`], { fmod: 0 });
  };
  const mask3 = g.op('Unsqueeze', [mask, axis2]);
  const pairMask3 = g.op('Unsqueeze', [pairMask, axis2]);
  const bagSum = (rows: string): string => g.op('ReduceSum', [rows, axis1], { keepdims: 0 });

  // Naive Bayes.
  const nbUni = bagSum(lookup(g, 'nb.unigram', m.nb.unigram, C, mapped, mask3));
  const nbBi = bagSum(lookup(g, 'nb.bigram', m.nb.bigram, C, pairHash(m.nb.buckets, 'nb'), pairMask3));
  g.init('nb.prior', [C], m.nb.prior);
  const nb = g.op('Add', [g.op('Add', [nbUni, nbBi]), 'nb.prior']);
  g.init('nb.weight', [], Float32Array.of(m.nb.weight));
  const terms: string[] = [g.op('Mul', [nb, 'nb.weight'])];

  let fineLogits: string | null = null;
  for (const b of m.mlps) {
    let bagIds = mapped;
    let bagMask3 = mask3;
    if (b.bigramBuckets > 0) {
      g.ints(`${b.name}.offset`, [m.vocab]);
      bagIds = g.op('Concat', [mapped, g.op('Add', [pairHash(b.bigramBuckets, b.name), `${b.name}.offset`])], { axis: 1 });
      bagMask3 = g.op('Concat', [mask3, pairMask3], { axis: 1 });
    }
    const emb = lookup(g, `${b.name}.embeddings`, b.table, b.dim, bagIds, bagMask3);
    const sum = g.op('ReduceSum', [emb, axis1], { keepdims: 0 });
    const count = g.op('Max', [g.op('ReduceSum', [bagMask3, axis1], { keepdims: 0 }), 'one']);
    const mean = g.op('Div', [sum, count]);
    // Padding (zero after the masked lookup) gets -1e9 so it never wins the max.
    const max = g.op('ReduceMax', [g.op('Add', [emb, g.op('Mul', [g.op('Sub', [bagMask3, 'one']), 'neg_big'])])], { axes: [1], keepdims: 0 });
    const hidden = g.op('Relu', [dense(g, g.op('Concat', [mean, max], { axis: 1 }), `${b.name}.hidden`, b.w1, b.b1, 2 * b.dim, b.hidden)]);
    const logits = dense(g, hidden, `${b.name}.output`, b.w2, b.b2, b.hidden, b.classes);
    let score: string;
    if (b.coarseOf === null) {
      score = g.op('LogSoftmax', [logits], { axis: 1 });
    } else {
      fineLogits = logits;
      // log Σ_{f ∈ c} p(f): softmax, sum into coarse classes with a 0/1 matrix, log.
      const G = new Float32Array(b.classes * C);
      b.coarseOf.forEach((c, f) => (G[f * C + c] = 1));
      g.init(`${b.name}.to_coarse`, [b.classes, C], G);
      score = g.op('Log', [g.op('Add', [g.op('MatMul', [g.op('Softmax', [logits], { axis: 1 }), `${b.name}.to_coarse`]), 'eps'])]);
    }
    g.init(`${b.name}.weight`, [], Float32Array.of(b.weight));
    terms.push(g.op('Mul', [score, `${b.name}.weight`]));
  }
  const coarse = g.op('LogSoftmax', [terms.reduce((a, t) => g.op('Add', [a, t]))], { axis: 1 });

  // Output labels: the fine branch's (if any) within their coarse class, else the coarse classes.
  g.init('label.coarse', [m.coarseOf.length], i64(m.coarseOf));
  const coarseOfLabel = g.op('Gather', [coarse, 'label.coarse'], { axis: 1 });
  const fine = m.mlps.find((b) => b.coarseOf !== null);
  if (fine === undefined || fineLogits === null) {
    g.op('Identity', [coarseOfLabel], {}, 'logits');
  } else {
    // log p(f | c(f)) = log p(f) − log Σ_{f' ∈ c(f)} p(f'), from the fine branch alone.
    const pFine = g.op('Softmax', [fineLogits], { axis: 1 });
    const inCoarse = g.op('Gather', [g.op('MatMul', [pFine, `${fine.name}.to_coarse`]), 'label.coarse'], { axis: 1 });
    const conditional = g.op('Sub', [g.op('Log', [g.op('Add', [pFine, 'eps'])]), g.op('Log', [g.op('Add', [inCoarse, 'eps'])])]);
    g.op('Add', [coarseOfLabel, conditional], {}, 'logits');
  }
  g.output('logits', DType.FLOAT, ['batch', m.coarseOf.length]);
  return g;
}
