/**
 * Title perturbations for training the classifier on listings unlike the training set's:
 * other retailers write shorter titles, often without the model number, and brands the
 * training data never saw. Each training example is drawn through these every epoch.
 */
import { removeValue, firstWords } from './eval/slices.js';
import type { Prng } from './prng.js';

export interface PerturbOptions {
  /** Probability of removing the brand from the title (where it occurs). @defaultValue 0.3 */
  dropBrand: number;
  /** Probability of removing the model number (where it occurs). @defaultValue 0.5 */
  dropMpn: number;
  /** Probability of cutting the title to its first k words, k uniform in [minWords, maxWords]. @defaultValue 0.3 */
  truncate: number;
  /** @defaultValue 3 */
  minWords: number;
  /** @defaultValue 9 */
  maxWords: number;
}

export const PERTURB_DEFAULTS: PerturbOptions = { dropBrand: 0.3, dropMpn: 0.5, truncate: 0.3, minWords: 3, maxWords: 9 };

export interface PerturbRow {
  title: string;
  brand?: string;
  mpn?: string;
}

/** One random variant of `row.title`; never empty (falls back to the original). */
export function perturbTitle(row: PerturbRow, rng: Prng, o: PerturbOptions): string {
  let t = row.title;
  // Draw every coin each time so the random stream does not depend on the row's fields.
  const uBrand = rng.next();
  const uMpn = rng.next();
  const uCut = rng.next();
  const k = o.minWords + rng.int(o.maxWords - o.minWords + 1);
  if (row.mpn && uMpn < o.dropMpn) t = removeValue(t, row.mpn) ?? t;
  if (row.brand && uBrand < o.dropBrand) t = removeValue(t, row.brand) ?? t;
  if (uCut < o.truncate) t = firstWords(t, k);
  return t.trim() === '' ? row.title : t;
}
