/**
 * Fitting the ensemble's mixing weights on held-out rows: the classifier's coarse logits are
 * Σ_k w_k · s_k, a weighted sum of its components' class scores (naive Bayes log-odds, MLP
 * log-probabilities). The weights minimise the negative log-likelihood of the held-out labels,
 * so they are also the calibration: a single temperature is a common scale of all of them.
 */

export interface EnsembleFit {
  weights: number[];
  /** Mean negative log-likelihood on the held-out rows at `weights`. */
  nll: number;
}

export class EnsembleError extends Error {
  override name = 'EnsembleError';
}

/** Mean NLL of labels `y` under logits Σ_k w_k · scores[k][i]. */
export function ensembleNll(scores: readonly (readonly Float32Array[])[], y: readonly number[], w: readonly number[]): number {
  const n = y.length;
  const C = scores[0]?.[0]?.length ?? 0;
  const z = new Float64Array(C);
  let total = 0;
  for (let i = 0; i < n; i++) {
    z.fill(0);
    for (let k = 0; k < scores.length; k++) {
      const s = scores[k]![i]!;
      for (let c = 0; c < C; c++) z[c] = z[c]! + w[k]! * s[c]!;
    }
    let max = -Infinity;
    for (const v of z) max = Math.max(max, v);
    let sum = 0;
    for (const v of z) sum += Math.exp(v - max);
    total += max + Math.log(sum) - z[y[i]!]!;
  }
  return total / Math.max(1, n);
}

/**
 * Coordinate search on the weights (each > 0, or 0 to leave a component out): start at `init`, try multiplying each weight by
 * factors above and below 1 and keep any that lowers the NLL, halving the step until it is small.
 * Deterministic, and a few hundred NLL evaluations at most.
 */
export function fitEnsemble(scores: readonly (readonly Float32Array[])[], y: readonly number[], init: readonly number[], rounds = 12): EnsembleFit {
  if (scores.length !== init.length) throw new EnsembleError(`${scores.length} components but ${init.length} initial weights`);
  for (const s of scores) if (s.length !== y.length) throw new EnsembleError(`component with ${s.length} rows for ${y.length} labels`);
  const w = [...init];
  let best = ensembleNll(scores, y, w);
  let step = 0.5;
  for (let r = 0; r < rounds; r++) {
    let improved = false;
    for (let k = 0; k < w.length; k++) {
      // A component left out (initial weight 0) stays out.
      if (w[k] === 0) continue;
      for (const f of [1 + step, 1 / (1 + step)]) {
        const trial = [...w];
        trial[k] = w[k]! * f;
        const nll = ensembleNll(scores, y, trial);
        if (nll < best - 1e-9) {
          best = nll;
          w[k] = trial[k]!;
          improved = true;
        }
      }
    }
    if (!improved) step /= 2;
  }
  return { weights: w, nll: best };
}

/** Log-softmax of `z` into a new array. */
export function logSoftmax(z: Float32Array): Float32Array {
  let max = -Infinity;
  for (const v of z) max = Math.max(max, v);
  let sum = 0;
  for (const v of z) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  return Float32Array.from(z, (v) => v - lse);
}

/** log Σ_{f ∈ c} exp(z_f) for each coarse class c of the fine classes (`coarseOf[f]`). */
export function fineToCoarse(z: Float32Array, coarseOf: Int32Array, classes: number): Float32Array {
  const max = new Float64Array(classes).fill(-Infinity);
  for (let f = 0; f < z.length; f++) max[coarseOf[f]!] = Math.max(max[coarseOf[f]!]!, z[f]!);
  const sum = new Float64Array(classes);
  for (let f = 0; f < z.length; f++) sum[coarseOf[f]!]! += Math.exp(z[f]! - max[coarseOf[f]!]!);
  return Float32Array.from(sum, (s, c) => (s > 0 ? max[c]! + Math.log(s) : -30));
}
