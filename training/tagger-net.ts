/**
 * The extract-* tagger network: WordPiece embeddings -> kernel-3 dilated Conv1d + ReLU layers ->
 * a linear layer per token; its parameters, the forward pass and the backward pass (gradients
 * accumulated into the parameters for training/train-tagger.ts to step).
 */
import type { ConvLayer } from './graphs.js';
import { accumulate, accumulateBackward, affine, softmax } from './nn.js';
import { Param } from './optim.js';
import type { Prng } from './prng.js';

/** The network's sizes (TaggerOptions, training/train-tagger.ts, extends it). */
export interface NetShape {
  dim: number;
  hidden: number;
  /** One conv layer per entry, with that dilation. */
  dilations: number[];
}

/** The network's trainable tensors. */
export interface Net {
  emb: Param;
  convs: Array<{ layer: ConvLayer; w: Param; b: Param }>;
  wo: Param;
  bo: Param;
  labels: number;
}

export function newNet(vocabSize: number, labels: number, rng: Prng, o: NetShape): Net {
  return {
    emb: Param.normal(vocabSize * o.dim, 0.1, rng, o.dim),
    convs: o.dilations.map((dilation, l) => {
      const inDim = l === 0 ? o.dim : o.hidden;
      const w = Param.normal(3 * inDim * o.hidden, Math.sqrt(2 / (3 * inDim)), rng);
      const b = Param.zeros(o.hidden);
      return { layer: { w: w.w, b: b.w, inDim, outDim: o.hidden, dilation }, w, b };
    }),
    wo: Param.normal(o.hidden * labels, Math.sqrt(1 / o.hidden), rng),
    bo: Param.zeros(labels),
    labels,
  };
}

/** Copy of `net` whose output layer keeps only the columns `keep` (label indices of `net`). */
export function narrowNet(net: Net, keep: readonly number[]): Net {
  const copy = (p: Param): Param => new Param(Float32Array.from(p.w), p.rowSize);
  const H = net.convs[net.convs.length - 1]!.layer.outDim;
  const wo = new Float32Array(H * keep.length);
  for (let h = 0; h < H; h++) keep.forEach((src, j) => (wo[h * keep.length + j] = net.wo.w[h * net.labels + src]!));
  return {
    emb: copy(net.emb),
    convs: net.convs.map(({ layer, w, b }) => {
      const w2 = copy(w);
      const b2 = copy(b);
      return { layer: { ...layer, w: w2.w, b: b2.w }, w: w2, b: b2 };
    }),
    wo: new Param(wo),
    bo: new Param(Float32Array.from(keep, (src) => net.bo.w[src]!)),
    labels: keep.length,
  };
}

/** Per-sequence activations: acts[0] = embeddings, acts[l+1] = ReLU output of conv l. */
export interface Buffers {
  acts: Float32Array[];
  grads: Float32Array[];
  probs: Float32Array;
}

export function buffers(net: Net, maxT: number): Buffers {
  const widths = [net.convs[0]!.layer.inDim, ...net.convs.map((c) => c.layer.outDim)];
  return {
    acts: widths.map((w) => new Float32Array(maxT * w)),
    grads: widths.map((w) => new Float32Array(maxT * w)),
    probs: new Float32Array(maxT * net.labels),
  };
}

/** Forward pass; leaves softmax probabilities in buf.probs. */
export function forward(net: Net, emb: Float32Array, ids: Int32Array, buf: Buffers): void {
  const T = ids.length;
  const L = net.labels;
  const D = net.convs[0]!.layer.inDim;
  for (let t = 0; t < T; t++) buf.acts[0]!.set(emb.subarray(ids[t]! * D, ids[t]! * D + D), t * D);
  net.convs.forEach(({ layer: c }, l) => {
    const a = buf.acts[l]!;
    const z = buf.acts[l + 1]!;
    for (let t = 0; t < T; t++) {
      const zo = t * c.outDim;
      for (let u = 0; u < c.outDim; u++) z[zo + u] = c.b[u]!;
      for (let k = 0; k < 3; k++) {
        const src = t + (k - 1) * c.dilation;
        if (src >= 0 && src < T) accumulate(a, src * c.inDim, c.w, k * c.inDim * c.outDim, c.inDim, c.outDim, z, zo);
      }
      for (let u = 0; u < c.outDim; u++) if (z[zo + u]! < 0) z[zo + u] = 0;
    }
  });
  const H = net.convs[net.convs.length - 1]!.layer.outDim;
  const h = buf.acts[net.convs.length]!;
  for (let t = 0; t < T; t++) {
    affine(h, t * H, net.wo.w, net.bo.w, H, L, buf.probs, t * L);
    softmax(buf.probs, t * L, L);
  }
}

/** Accumulates the cross-entropy gradients of one sequence (after forward()). */
export function backward(net: Net, ids: Int32Array, y: Int32Array, buf: Buffers): void {
  const T = ids.length;
  const L = net.labels;
  const dz = buf.probs; // becomes dLoss/dlogits = p - onehot in place
  for (let t = 0; t < T; t++) dz[t * L + y[t]!] = dz[t * L + y[t]!]! - 1;
  const n = net.convs.length;
  const H = net.convs[n - 1]!.layer.outDim;
  buf.grads[n]!.fill(0, 0, T * H);
  for (let t = 0; t < T; t++) {
    accumulateBackward(buf.acts[n]!, t * H, net.wo.w, 0, H, L, dz, t * L, net.wo.g, buf.grads[n]!, t * H);
    for (let l = 0; l < L; l++) net.bo.g[l] = net.bo.g[l]! + dz[t * L + l]!;
  }
  for (let l = n - 1; l >= 0; l--) {
    const { layer: c, w, b } = net.convs[l]!;
    const out = buf.acts[l + 1]!;
    const g = buf.grads[l + 1]!;
    const gin = buf.grads[l]!;
    gin.fill(0, 0, T * c.inDim);
    for (let t = 0; t < T; t++) {
      const zo = t * c.outDim;
      for (let u = 0; u < c.outDim; u++) {
        if (out[zo + u]! <= 0) g[zo + u] = 0; // ReLU
        b.g[u] = b.g[u]! + g[zo + u]!;
      }
      for (let k = 0; k < 3; k++) {
        const src = t + (k - 1) * c.dilation;
        if (src >= 0 && src < T)
          accumulateBackward(buf.acts[l]!, src * c.inDim, c.w, k * c.inDim * c.outDim, c.inDim, c.outDim, g, zo, w.g, gin, src * c.inDim);
      }
    }
  }
  const D = net.convs[0]!.layer.inDim;
  for (let t = 0; t < T; t++) {
    net.emb.touch(ids[t]!);
    const row = ids[t]! * D;
    for (let d = 0; d < D; d++) net.emb.g[row + d] = net.emb.g[row + d]! + buf.grads[0]![t * D + d]!;
  }
}
