/**
 * Trainable tensors and the Adam optimiser. Embedding tables are updated lazily:
 * only rows touched in the current batch take an Adam step ("sparse Adam"), which
 * keeps a step proportional to the batch instead of the vocabulary.
 */
import type { Prng } from './prng.js';

export class Param {
  readonly g: Float32Array;
  readonly m: Float32Array;
  readonly v: Float32Array;
  /** Rows touched since the last step (embedding tables only). */
  private readonly touched: Uint8Array | null;
  private touchedList: number[] = [];

  constructor(
    readonly w: Float32Array,
    /** Row width for row-sparse updates, or 0 for a dense parameter. */
    readonly rowSize = 0,
  ) {
    this.g = new Float32Array(w.length);
    this.m = new Float32Array(w.length);
    this.v = new Float32Array(w.length);
    this.touched = rowSize > 0 ? new Uint8Array(w.length / rowSize) : null;
  }

  static zeros(n: number): Param {
    return new Param(new Float32Array(n));
  }

  /** Gaussian init with standard deviation `std`. */
  static normal(n: number, std: number, rng: Prng, rowSize = 0): Param {
    const w = new Float32Array(n);
    for (let i = 0; i < n; i++) w[i] = rng.normal() * std;
    return new Param(w, rowSize);
  }

  touch(row: number): void {
    if (this.touched !== null && this.touched[row] === 0) {
      this.touched[row] = 1;
      this.touchedList.push(row);
    }
  }

  /** Index ranges to update this step; clears the touched set. */
  takeRanges(): Array<[number, number]> {
    if (this.touched === null) return [[0, this.w.length]];
    const rows = this.touchedList.sort((a, b) => a - b);
    this.touchedList = [];
    return rows.map((r) => {
      this.touched![r] = 0;
      return [r * this.rowSize, (r + 1) * this.rowSize];
    });
  }
}

export interface AdamOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
}

export class Adam {
  private t = 0;
  private readonly b1: number;
  private readonly b2: number;
  private readonly eps: number;
  lr: number;

  constructor(
    private readonly params: readonly Param[],
    opts: AdamOptions,
  ) {
    this.lr = opts.lr;
    this.b1 = opts.beta1 ?? 0.9;
    this.b2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
  }

  /** Applies the accumulated gradients (scaled by `scale`) and zeroes them. */
  step(scale = 1): void {
    this.t++;
    const { b1, b2, eps } = this;
    const lrT = (this.lr * Math.sqrt(1 - b2 ** this.t)) / (1 - b1 ** this.t);
    for (const p of this.params) {
      const { w, g, m, v } = p;
      for (const [from, to] of p.takeRanges()) {
        for (let i = from; i < to; i++) {
          const gi = g[i]! * scale;
          const mi = b1 * m[i]! + (1 - b1) * gi;
          const vi = b2 * v[i]! + (1 - b2) * gi * gi;
          m[i] = mi;
          v[i] = vi;
          w[i] = w[i]! - (lrT * mi) / (Math.sqrt(vi) + eps);
          g[i] = 0;
        }
      }
    }
  }
}
