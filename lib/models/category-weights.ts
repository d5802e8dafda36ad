/**
 * Category weights: a multiplier per category of a classifier's probability (a feed's own mix of
 * categories against the training data's: lib/models/prior-shift.ts, `pipeline priors`). Applied as
 * the log of the weight added to each label's logit, so the softmax gives the reweighted,
 * renormalised probabilities at no cost per record. No model runtime here: the config checks use it.
 */
import { PipelineError } from '../core/errors.js';

export class CategoryWeightsError extends PipelineError {}

/** The category of a label: the part before '/' of a fine label (`<category>/<subcategory>`), else the label. */
const categoryOf = (label: string): string => (label.includes('/') ? label.slice(0, label.indexOf('/')) : label);

/**
 * Per label, the log of its category's weight (categories not named keep weight 1). Throws
 * CategoryWeightsError for a category the labels lack, a weight not finite or below 0, or every
 * category at 0.
 */
export function categoryLogOffsets(labels: readonly string[], weights: Readonly<Record<string, number>>): Float32Array {
  const categories = [...new Set(labels.map(categoryOf))];
  const unknown = Object.keys(weights).filter((c) => !categories.includes(c));
  if (unknown.length > 0)
    throw new CategoryWeightsError(`names categories the model does not have: ${unknown.join(', ')} (it has ${categories.join(', ')})`);
  for (const [c, w] of Object.entries(weights))
    if (typeof w !== 'number' || !Number.isFinite(w) || w < 0) throw new CategoryWeightsError(`${c} must be a finite number ≥ 0, got ${JSON.stringify(w)}`);
  // Own keys only: a category named like an Object.prototype member (`constructor`) had read a function (NaN offsets).
  const weightOf = (c: string): number => (Object.hasOwn(weights, c) ? weights[c]! : 1);
  if (categories.every((c) => weightOf(c) === 0)) throw new CategoryWeightsError('every category has weight 0');
  return Float32Array.from(labels, (l) => Math.log(weightOf(categoryOf(l))));
}
