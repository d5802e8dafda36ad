/**
 * Category priors for a feed whose mix of categories differs from the training data's (another
 * retailer; a feed without some categories). A classifier's probabilities carry the mix it was
 * trained on; when a feed's mix differs, p_feed(c|x) ∝ p(c|x) · w_c with w_c = π_feed(c) / π_ref(c).
 * The feed's mix π_feed is estimated from the model's own outputs on unlabelled titles of the feed
 * by expectation-maximisation (Saerens, Latinne & Decaestecker, 2002). π_ref is the model's mean
 * output on titles of its training distribution (not the label counts: label smoothing and the
 * training perturbations give rare categories more than their share).
 *
 * Each weight is capped: a category the reference almost never sees (0.1 % of titles) can otherwise
 * grow without bound under the small bias a shift in title style gives it (measured on dev titles cut
 * to 8 words without their model number: uncapped EM moved `software` from 0.1 % to 10 % and lost
 * 2.4 points; capped at 10, +0.1).
 */

export interface PriorShiftOptions {
  /** Largest weight a category may get. @defaultValue 10 */
  maxWeight?: number;
  /** @defaultValue 1000 */
  maxIterations?: number;
  /** Stop when no weight moves more than this in an iteration. @defaultValue 1e-5 */
  tolerance?: number;
}

export const PRIOR_SHIFT_DEFAULTS = { maxWeight: 10, maxIterations: 1000, tolerance: 1e-5 } as const;

export interface PriorShift {
  /** Per category (the order of the probability rows): the feed's share estimated. */
  shares: number[];
  /** Per category: the multiplier of its probability (estimated share / reference share, capped). */
  weights: number[];
  iterations: number;
  converged: boolean;
}

export class PriorShiftError extends Error {
  override name = 'PriorShiftError';
}

/** The mean of probability rows (each over the same categories). */
export function meanDistribution(rows: readonly ArrayLike<number>[]): number[] {
  if (rows.length === 0) throw new PriorShiftError('no rows to average');
  const C = rows[0]!.length;
  const mean = new Array<number>(C).fill(0);
  for (const r of rows) {
    if (r.length !== C) throw new PriorShiftError(`rows of ${r.length} and ${C} categories`);
    for (let c = 0; c < C; c++) mean[c]! += r[c]! / rows.length;
  }
  return mean;
}

/** Rows reweighted by `weights` and renormalised. */
export function reweight(row: ArrayLike<number>, weights: readonly number[]): number[] {
  const out = Array.from({ length: weights.length }, (_, c) => row[c]! * weights[c]!);
  const sum = out.reduce((a, b) => a + b, 0);
  return sum > 0 ? out.map((v) => v / sum) : Array.from(row);
}

/**
 * EM over the feed's rows: E-step reweights each row by the current weights, M-step takes the mean
 * as the feed's shares, weights = shares / reference (capped at `maxWeight`).
 */
export function estimatePriorShift(feed: readonly ArrayLike<number>[], reference: readonly number[], options: PriorShiftOptions = {}): PriorShift {
  const o = { ...PRIOR_SHIFT_DEFAULTS, ...options };
  if (!(o.maxWeight >= 1)) throw new PriorShiftError(`maxWeight must be ≥ 1, got ${o.maxWeight}`);
  if (feed.length === 0) throw new PriorShiftError('no feed rows to estimate from');
  const C = reference.length;
  for (const [c, r] of reference.entries()) if (!(r > 0)) throw new PriorShiftError(`reference share of category ${c} must be > 0, got ${r}`);
  let weights = new Array<number>(C).fill(1);
  let shares = meanDistribution(feed);
  for (let i = 1; i <= o.maxIterations; i++) {
    shares = meanDistribution(feed.map((row) => reweight(row, weights)));
    const next = shares.map((s, c) => Math.min(s / reference[c]!, o.maxWeight));
    const moved = Math.max(...next.map((w, c) => Math.abs(w - weights[c]!)));
    weights = next;
    if (moved < o.tolerance) return { shares, weights, iterations: i, converged: true };
  }
  return { shares, weights, iterations: o.maxIterations, converged: false };
}
