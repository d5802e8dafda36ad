/**
 * Calibration of the classifier's confidence, and what a review threshold does: pure functions
 * over (confidence, correct) pairs.
 */

export interface Scored {
  /** The classifier's confidence in its label, in [0, 1]. */
  confidence: number;
  correct: boolean;
}

/**
 * Expected calibration error: rows binned by confidence into `bins` equal-width bins,
 * Σ (bin size / n) · |accuracy − mean confidence| over the bins.
 */
export function expectedCalibrationError(rows: readonly Scored[], bins = 15): number {
  const n = new Float64Array(bins);
  const conf = new Float64Array(bins);
  const hit = new Float64Array(bins);
  for (const r of rows) {
    const b = Math.min(bins - 1, Math.max(0, Math.floor(r.confidence * bins)));
    n[b]!++;
    conf[b]! += r.confidence;
    if (r.correct) hit[b]!++;
  }
  let ece = 0;
  for (let b = 0; b < bins; b++) if (n[b]! > 0) ece += (n[b]! / rows.length) * Math.abs(hit[b]! / n[b]! - conf[b]! / n[b]!);
  return ece;
}

export interface ThresholdRow {
  threshold: number;
  /** Share of rows below the threshold (the ones a `confidence < threshold` rule sends to review). */
  reviewShare: number;
  /** Accuracy of the rows at or above the threshold (accepted without review). */
  accuracyAbove: number;
  /** Accuracy of the rows below it. */
  accuracyBelow: number;
  above: number;
  below: number;
}

export function thresholdTable(rows: readonly Scored[], thresholds: readonly number[]): ThresholdRow[] {
  return thresholds.map((threshold) => {
    const above = rows.filter((r) => r.confidence >= threshold);
    const below = rows.filter((r) => r.confidence < threshold);
    const acc = (xs: readonly Scored[]): number => xs.filter((r) => r.correct).length / Math.max(1, xs.length);
    return {
      threshold,
      reviewShare: below.length / Math.max(1, rows.length),
      accuracyAbove: acc(above),
      accuracyBelow: acc(below),
      above: above.length,
      below: below.length,
    };
  });
}

/**
 * The confidence thresholds of the routing table: every `{"confidence": {"lt": X}}` (or `lte`)
 * in the routes out of `stage`, nested `any`/`all`/`not` included.
 */
export function routingThresholds(routes: Record<string, unknown> | undefined, stage: string): number[] {
  const found = new Set<number>();
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(walk);
    if (v === null || typeof v !== 'object') return;
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (k === 'confidence' && x !== null && typeof x === 'object') {
        for (const op of ['lt', 'lte'] as const) {
          const t = (x as Record<string, unknown>)[op];
          if (typeof t === 'number') found.add(t);
        }
      } else walk(x);
    }
  };
  walk(routes?.[stage]);
  return [...found].sort((a, b) => a - b);
}
