/**
 * The classifier's output labels: `<category>/<source_category>` for every fine source category
 * with at least `minRows` training rows, and `<category>/*` for the rest of each category (too
 * rare to learn: they fall back to the coarse label). The coarse category is the part before
 * the first '/', which is how lib/models/classifier.ts sums fine probabilities into coarse ones.
 */
import type { ProductRow } from './data.js';

export const RESIDUAL = '*';

export interface FineLabels {
  labels: string[];
  /** Coarse class index of each label. */
  coarseOf: Int32Array;
  /** Label index of a row: its fine category's, else its category's residual; -1 for an unknown category. */
  of(row: Pick<ProductRow, 'category' | 'source_category'>): number;
}

export function fineLabels(rows: readonly ProductRow[], categories: readonly string[], minRows: number): FineLabels {
  const counts = new Map<string, { category: string; n: number }>();
  for (const r of rows) {
    const k = `${r.category}/${r.source_category}`;
    const e = counts.get(k) ?? { category: r.category, n: 0 };
    e.n++;
    counts.set(k, e);
  }
  const coarse = new Map(categories.map((c, i) => [c, i]));
  const labels = categories.map((c) => `${c}/${RESIDUAL}`);
  const kept = [...counts.entries()]
    .filter(([k, e]) => e.n >= minRows && coarse.has(e.category) && !k.endsWith(`/${RESIDUAL}`))
    .map(([k]) => k)
    .sort();
  labels.push(...kept);
  const index = new Map(labels.map((l, i) => [l, i]));
  const coarseOf = Int32Array.from(labels, (l) => coarse.get(l.slice(0, l.indexOf('/')))!);
  return {
    labels,
    coarseOf,
    of: (r) => index.get(`${r.category}/${r.source_category}`) ?? index.get(`${r.category}/${RESIDUAL}`) ?? -1,
  };
}
