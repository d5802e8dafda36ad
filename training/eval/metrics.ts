/** Scoring for `pipeline eval`: pure functions over (truth, prediction) pairs. */

/** Letters and digits only, case-folded: how the data README compares brands and MPNs. */
export const fold = (s: string | undefined): string => (s ?? '').toLowerCase().replace(/[^a-z0-9]/g, '');

/** Does `value` occur in `title` once both are folded? */
export const occursIn = (value: string | undefined, title: string): boolean => !!fold(value) && fold(title).includes(fold(value));

export interface CategoryScores {
  n: number;
  accuracy: number;
  macroF1: number;
  perLabel: Record<string, { precision: number; recall: number; f1: number; support: number }>;
  /** Most frequent (truth → predicted) mistakes. */
  confusions: { truth: string; predicted: string; count: number }[];
  /**
   * Predictions of a label no row has as its truth (a category the input leaves out, `(none)` for no
   * prediction), with counts: all wrong, in accuracy and recall, but in no per-label line nor in
   * macro-F1, which averages the labels the rows have. Absent in older `--json` files.
   */
  predictedOutside?: Record<string, number>;
}

export function scoreCategories(pairs: readonly { truth: string; predicted: string | undefined }[], topConfusions = 8): CategoryScores {
  const labels = [...new Set(pairs.map((p) => p.truth))].sort();
  const tp = new Map<string, number>();
  const predCount = new Map<string, number>();
  const support = new Map<string, number>();
  const confusion = new Map<string, number>();
  let correct = 0;
  for (const { truth, predicted } of pairs) {
    const pred = predicted ?? '(none)';
    support.set(truth, (support.get(truth) ?? 0) + 1);
    predCount.set(pred, (predCount.get(pred) ?? 0) + 1);
    if (pred === truth) {
      correct++;
      tp.set(truth, (tp.get(truth) ?? 0) + 1);
    } else {
      const k = `${truth}\u0000${pred}`;
      confusion.set(k, (confusion.get(k) ?? 0) + 1);
    }
  }
  const perLabel: CategoryScores['perLabel'] = {};
  let f1Sum = 0;
  for (const l of labels) {
    const t = tp.get(l) ?? 0;
    const precision = t / Math.max(1, predCount.get(l) ?? 0);
    const recall = t / Math.max(1, support.get(l) ?? 0);
    const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
    perLabel[l] = { precision, recall, f1, support: support.get(l) ?? 0 };
    f1Sum += f1;
  }
  const confusions = [...confusion.entries()]
    .map(([k, count]) => {
      const [truth, predicted] = k.split('\u0000') as [string, string];
      return { truth, predicted, count };
    })
    .sort((a, b) => b.count - a.count || a.truth.localeCompare(b.truth))
    .slice(0, topConfusions);
  const truths = new Set(labels);
  const predictedOutside = Object.fromEntries([...predCount].filter(([l]) => !truths.has(l)).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])));
  return {
    n: pairs.length,
    accuracy: correct / Math.max(1, pairs.length),
    macroF1: f1Sum / Math.max(1, labels.length),
    perLabel,
    confusions,
    predictedOutside,
  };
}

export interface ExactMatch {
  /** Rows where the true value occurs in the title (the ones the extractor can find). */
  n: number;
  /** Predictions made on those rows. */
  predicted: number;
  correct: number;
  precision: number;
  recall: number;
}

/** Exact match (folded) of an extracted field, over rows whose true value occurs in the title. */
export function scoreExact(rows: readonly { title: string; truth?: string; predicted?: string }[]): ExactMatch {
  let n = 0;
  let predicted = 0;
  let correct = 0;
  for (const r of rows) {
    if (!occursIn(r.truth, r.title)) continue;
    n++;
    if (r.predicted) predicted++;
    if (r.predicted && fold(r.predicted) === fold(r.truth)) correct++;
  }
  return { n, predicted, correct, precision: correct / Math.max(1, predicted), recall: correct / Math.max(1, n) };
}

/** How often a field is given on rows whose true value is not in the title (so it can only be another value). */
export interface GivenWithout {
  /** Rows with a true value that does not occur in the title. */
  n: number;
  given: number;
  share: number;
}

/**
 * A field given where the title lacks its true value: on titles that lost their model number
 * (the no-mpn slice) each model number given is another code or a word mistaken for one. Titles
 * from other retailers often carry no model number, so this is the false-positive side of it.
 */
export function scoreGivenWithout(rows: readonly { title: string; truth?: string; predicted?: string }[]): GivenWithout {
  let n = 0;
  let given = 0;
  for (const r of rows) {
    if (!fold(r.truth) || occursIn(r.truth, r.title)) continue;
    n++;
    if (r.predicted) given++;
  }
  return { n, given, share: given / Math.max(1, n) };
}
