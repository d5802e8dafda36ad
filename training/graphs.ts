/**
 * ONNX graphs of the tagger and embedder (the classifier's is graph-classifier.ts). Inputs are BERT-style int64
 * `input_ids` and `attention_mask` [batch, sequence]; only standard opset-13 ops.
 */
import { DType, OnnxGraph } from './onnx-writer.js';
import type { QuantizedTable } from './quantize.js';

const SEQ = ['batch', 'sequence'];

/** Shared front: inputs, int8 embedding lookup, float mask. */
function front(g: OnnxGraph, table: QuantizedTable, dim: number): { emb: string; mask: string } {
  const ids = g.input('input_ids', DType.INT64, SEQ);
  const attention = g.input('attention_mask', DType.INT64, SEQ);
  const vocab = table.scale.length;
  g.init('embeddings.q', [vocab, dim], table.q);
  g.init('embeddings.scale', [vocab, 1], table.scale);
  const rows = g.op('Cast', [g.op('Gather', ['embeddings.q', ids], { axis: 0 })], { to: DType.FLOAT });
  const emb = g.op('Mul', [rows, g.op('Gather', ['embeddings.scale', ids], { axis: 0 })]);
  const mask = g.op('Cast', [attention], { to: DType.FLOAT });
  return { emb, mask };
}

function dense(g: OnnxGraph, x: string, name: string, w: Float32Array, b: Float32Array, nIn: number, nOut: number): string {
  g.init(`${name}.weight`, [nIn, nOut], w);
  g.init(`${name}.bias`, [nOut], b);
  return g.op('Add', [g.op('MatMul', [x, `${name}.weight`]), `${name}.bias`]);
}

export interface ConvLayer {
  /** [3·inDim, outDim]: rows k·inDim + c for kernel tap k (t-d, t, t+d) and input channel c. */
  w: Float32Array;
  b: Float32Array;
  inDim: number;
  outDim: number;
  dilation: number;
}

export interface TaggerWeights {
  dim: number;
  labels: number;
  table: QuantizedTable;
  convs: ConvLayer[];
  wo: Float32Array;
  bo: Float32Array;
}

/** ONNX Conv weight layout [out, in, kernel] from the training layout. */
function convKernel(c: ConvLayer): Float32Array {
  const out = new Float32Array(c.w.length);
  for (let k = 0; k < 3; k++)
    for (let i = 0; i < c.inDim; i++) for (let o = 0; o < c.outDim; o++) out[o * c.inDim * 3 + i * 3 + k] = c.w[(k * c.inDim + i) * c.outDim + o]!;
  return out;
}

/**
 * Embeddings → kernel-3 Conv1d + ReLU layers → per-token logits [batch, seq, labels].
 * Padding positions are zeroed after every layer so a padded batch computes the
 * same as each sequence alone (zero padding at the ends in training).
 */
export function taggerGraph(name: string, m: TaggerWeights): OnnxGraph {
  const g = new OnnxGraph(name);
  const { emb, mask } = front(g, m.table, m.dim);
  const maskC = g.op('Unsqueeze', [mask, g.ints('axes.1', [1])]);
  let x = g.op('Mul', [g.op('Transpose', [emb], { perm: [0, 2, 1] }), maskC]);
  m.convs.forEach((c, i) => {
    g.init(`conv${i}.weight`, [c.outDim, c.inDim, 3], convKernel(c));
    g.init(`conv${i}.bias`, [c.outDim], c.b);
    const conv = g.op('Conv', [x, `conv${i}.weight`, `conv${i}.bias`], {
      kernel_shape: [3],
      dilations: [c.dilation],
      pads: [c.dilation, c.dilation],
    });
    x = g.op('Mul', [g.op('Relu', [conv]), maskC]);
  });
  const last = m.convs[m.convs.length - 1]?.outDim ?? m.dim;
  const seq = g.op('Transpose', [x], { perm: [0, 2, 1] });
  g.op('Identity', [dense(g, seq, 'classifier', m.wo, m.bo, last, m.labels)], {}, 'logits');
  g.output('logits', DType.FLOAT, ['batch', 'sequence', m.labels]);
  return g;
}

export interface EmbedderWeights {
  dim: number;
  out: number;
  table: QuantizedTable;
  proj: Float32Array;
  bias: Float32Array;
}

/** Per-token tanh(embedding · P + b) as last_hidden_state [batch, seq, out]; callers mean-pool. */
export function embedderGraph(m: EmbedderWeights): OnnxGraph {
  const g = new OnnxGraph('product-embed');
  const { emb } = front(g, m.table, m.dim);
  g.op('Tanh', [dense(g, emb, 'projection', m.proj, m.bias, m.dim, m.out)], {}, 'last_hidden_state');
  g.output('last_hidden_state', DType.FLOAT, ['batch', 'sequence', m.out]);
  return g;
}
