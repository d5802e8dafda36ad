import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';
import type { Envelope } from '../stream/codec.js';
import { REVIEW_FIELDS } from '../stream/review-decision.js';
import { isGroupExists } from '../core/redis-replies.js';

/** The consumer group (and consumer) the console reads the review stream with. */
export const REVIEW_GROUP = 'console';
export { REVIEW_FIELDS, REVIEW_STAGE } from '../stream/review-decision.js';

export interface ReviewItem {
  /** Entry id on the review stream. */
  id: string;
  key: string;
  title: string;
  /** The stage that sent it to review (its routing table is the one a decision goes through). */
  from: string;
  category?: string;
  /** The stage whose output set `category` (the classifier); a corrected category is routed by its table. */
  categoryFrom?: string;
  confidence?: number;
  /** The model's most probable categories, best first. */
  top: { category: string; confidence: number }[];
  /** Fields extracted so far (brand, mpn, gtin), latest stage wins. */
  fields: Record<string, string>;
  producedAt: number;
  /** Times the console's group delivered it (more than 1: listed before, still undecided). */
  deliveries: number;
}

export interface Decision {
  /** The category the reviewer confirms or sets. */
  category: string;
  /** Corrected fields; omitted ones keep the extracted value. An empty string clears one. */
  fields?: Partial<Record<(typeof REVIEW_FIELDS)[number], string>>;
  /** Who decided (the token's name). */
  reviewer: string;
}

/**
 * One decision in the training data's shape (shared/data/products/README.md) plus who and what.
 * brand / mpn / gtin: the reviewed value; null when the reviewer cleared it (training drops the
 * field, training/review-labels.ts); absent when there was none and the reviewer set none.
 */
export interface Label {
  id: string;
  title: string;
  category: string;
  brand?: string | null;
  mpn?: string | null;
  gtin?: string | null;
  source_category: string;
  source: 'console-review';
  decision: 'confirm' | 'correct';
  predicted: { category?: string; confidence?: number };
  reviewedBy: string;
  reviewedAt: number;
}

export interface DecisionResult {
  label: Label;
  /** Stage streams the corrected product went to, with the new entry ids. */
  sentTo: { stream: string; id: string }[];
  /** The product's other listed items the decision closed (acked, off the list): items of the record it decided. */
  closed: ClosedItem[];
}

/** A review item closed without a decision of its own: its product was decided through another item. */
export interface ClosedItem {
  id: string;
  key: string;
  /** The version of the decision that covers it. */
  version: string;
  /** That decision, when the item was closed as a page listed it (after the decision). */
  decision?: { by: string; entry: string; at: number };
}

/** XGROUP CREATE on the review stream (MKSTREAM, from the start) when the group is missing. */
export async function ensureReviewGroup(redis: Redis, keys: Keys, stream = 'review'): Promise<void> {
  try {
    await redis.xgroup('CREATE', keys.stream(stream), REVIEW_GROUP, '0', 'MKSTREAM');
  } catch (err) {
    if (!isGroupExists(err)) throw err;
  }
}

const scalar = (v: unknown): v is string | number => typeof v === 'string' || typeof v === 'number';

/** What a reviewer sees of an envelope. */
export function reviewView(id: string, env: Envelope, deliveries: number): ReviewItem {
  const outs = env.hops
    .map((h) => [h.stage, env.outputs[h.stage]] as const)
    .filter((o): o is readonly [string, Record<string, unknown>] => !!o[1] && typeof o[1] === 'object');
  const item: ReviewItem = {
    id,
    key: env.key,
    title: env.input.title,
    from: env.hops.at(-1)?.stage ?? '',
    top: [],
    fields: {},
    producedAt: env.producedAt,
    deliveries,
  };
  for (const f of REVIEW_FIELDS) if (typeof env.input[f] === 'string' && env.input[f]) item.fields[f] = env.input[f] as string;
  for (const [stage, o] of outs) {
    if (typeof o.category === 'string') {
      item.category = o.category;
      item.categoryFrom = stage;
    }
    if (typeof o.confidence === 'number') item.confidence = o.confidence;
    if (Array.isArray(o.top))
      item.top = (o.top as { category?: unknown; confidence?: unknown }[])
        .filter((t) => typeof t.category === 'string')
        .map((t) => ({ category: String(t.category), confidence: Number(t.confidence) }));
    for (const f of REVIEW_FIELDS) if (scalar(o[f]) && o[f] !== '') item.fields[f] = String(o[f]);
  }
  if (item.top.length === 0 && item.category) item.top = [{ category: item.category, confidence: item.confidence ?? NaN }];
  return item;
}

/**
 * The reviewable fields of a label: each value the product has after the decision (`fields`), or
 * null for one the decision cleared (an empty string), so a cleared field is told apart from one
 * never set.
 */
export function labelFields(fields: Readonly<Record<string, string>>, decided: Decision['fields'] = {}): Pick<Label, (typeof REVIEW_FIELDS)[number]> {
  const out: Pick<Label, (typeof REVIEW_FIELDS)[number]> = {};
  for (const f of REVIEW_FIELDS) {
    if (fields[f]) out[f] = fields[f];
    else if (decided[f]?.trim() === '') out[f] = null;
  }
  return out;
}
