/**
 * A reviewer's decision as it travels in the envelope: the `review` output (and hop) that a
 * console decision adds (lib/console/review.ts). The stages after a decision, and a reprocess of a
 * decided product, route it by the decision: it is never sent back to the review stream, and the
 * stage that sets the category (the classifier) routes it as the reviewer's category with
 * confidence 1, as the decision itself was routed.
 */
import { groupOf, type GroupTable } from './category-groups.js';

/** The stage name a decision is recorded under (its hop and its output), and the stream the console reviews. */
export const REVIEW_STAGE = 'review';

/** Fields a reviewer may set beside the category. */
export const REVIEW_FIELDS = ['brand', 'mpn', 'gtin'] as const;

/** What routing and the store read of a decision (the `review` output has more: decision, predicted). */
export interface ReviewedAs {
  category: string;
  reviewedBy: string;
  /** The reviewer's fields (brand, mpn, gtin), the extracted ones they kept included. */
  fields: Partial<Record<(typeof REVIEW_FIELDS)[number], string>>;
}

/** The decision an envelope's outputs carry, or undefined when no reviewer decided it. */
export function reviewDecisionOf(outputs: Readonly<Record<string, unknown>>): ReviewedAs | undefined {
  const r = outputs[REVIEW_STAGE] as Record<string, unknown> | null | undefined;
  if (!r || typeof r !== 'object' || typeof r.reviewedBy !== 'string' || typeof r.category !== 'string') return undefined;
  const fields: ReviewedAs['fields'] = {};
  for (const f of REVIEW_FIELDS) if (typeof r[f] === 'string' && r[f] !== '') fields[f] = r[f] as string;
  return { category: r.category, reviewedBy: r.reviewedBy, fields };
}

/** A classifier's outputs that belong to the category it predicted, not to another one. */
const OF_PREDICTED = ['subcategory', 'subcategoryConfidence', 'subcategories', 'top', 'group'] as const;

/**
 * A stage's output as the reviewer decided it, for its routing table: the reviewer's category and
 * fields, confidence 1, `reviewedBy`. When the category differs from `predicted` (the category the
 * output had), the model's subcategory, scores and group go, and the group is the one `groups`
 * gives the reviewer's category (the old group's extractor would run otherwise).
 */
export function asReviewed(output: Readonly<Record<string, unknown>>, d: ReviewedAs, predicted: unknown, groups: GroupTable): Record<string, unknown> {
  const out: Record<string, unknown> = { ...output, ...d.fields, category: d.category, confidence: 1, reviewedBy: d.reviewedBy };
  if (d.category !== predicted) {
    for (const f of OF_PREDICTED) delete out[f];
    const group = groupOf(groups, d.category);
    if (group !== undefined) out.group = group;
  }
  return out;
}
