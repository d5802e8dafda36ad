import type { Redis } from 'ioredis';
import type { ResolvedConfig } from '../config/types.js';
import { BadRecordError, RouteError } from '../core/errors.js';
import type { Keys } from '../redis/keys.js';
import { Script } from '../redis/script.js';
import { decodeEnvelope, encodeEnvelope, entryFields, type Envelope } from '../stream/codec.js';
import { toEntries } from '../stream/entries.js';
import { compileRules } from '../stream/router.js';
import { parseGroups } from '../stream/category-groups.js';
import { asReviewed, REVIEW_FIELDS, REVIEW_STAGE } from '../stream/review-decision.js';
import { serverTimeMs } from '../redis/server-time.js';
import { compareIds } from '../api/status.js';

const decide = new Script('review-decide-N');

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
}

/** XGROUP CREATE on the review stream (MKSTREAM, from the start) when the group is missing. */
export async function ensureReviewGroup(redis: Redis, keys: Keys, stream = 'review'): Promise<void> {
  try {
    await redis.xgroup('CREATE', keys.stream(stream), REVIEW_GROUP, '0', 'MKSTREAM');
  } catch (err) {
    if (!(err instanceof Error && err.message.includes('BUSYGROUP'))) throw err;
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

/**
 * Apply a reviewer's decision to review entry `id`: the corrected product re-enters the pipeline
 * where the routing table of the stage that sent it to review (`from`) sends a product of the
 * corrected category with confidence 1 (terminal streams such as review itself left out), with a
 * `review` hop and output (category, fields, reviewedBy) in its envelope; the decision is kept as a
 * label in `{p}:labels`. Ack, forward and label are one script (review-decide-N.lua).
 * Throws BadRecordError (unknown entry, empty category) and RouteError (the table sends that
 * category nowhere but to terminal streams); returns undefined when another decision won.
 */
export async function decideReview(
  redis: Redis,
  config: ResolvedConfig,
  keys: Keys,
  id: string,
  d: Decision,
  stream = 'review',
): Promise<DecisionResult | undefined> {
  const category = d.category?.trim();
  if (!category) throw new BadRecordError('category: required (the confirmed or corrected category)');
  for (const f of Object.keys(d.fields ?? {}))
    if (!(REVIEW_FIELDS as readonly string[]).includes(f)) throw new BadRecordError(`fields.${f}: not a reviewable field (known: ${REVIEW_FIELDS.join(', ')})`);
  const key = keys.stream(stream);
  const [entry] = toEntries((await redis.xrangeBuffer(key, id, id)) as unknown as [Buffer, Buffer[] | null][]);
  if (!entry) throw new BadRecordError(`review entry ${id}: not in ${key}`);
  const { payload } = entryFields(entry.fields);
  if (!payload) throw new BadRecordError(`review entry ${id}: no envelope`);
  const env = decodeEnvelope(payload);
  const item = reviewView(id, env, 0);
  // A corrected category goes back through the table of the stage that set the category (its
  // extractor then runs for the new category): one sent to review further on (validate, for a
  // missing attribute) had been stored with the old category's extractor's fields.
  const changed = category !== item.category;
  const via = changed && item.categoryFrom && config.routes[item.categoryFrom] ? item.categoryFrom : item.from;
  const rules = config.routes[via];
  if (!rules) throw new RouteError(`review entry ${id}: stage ${JSON.stringify(via)} that sent it has no routing table in this config`);
  const inputs = new Set(config.stages.map((s) => s.input));
  const router = compileRules(via, rules, new Set([...inputs, ...config.streams.terminal]));
  const fields: Record<string, string> = { ...item.fields };
  for (const [f, v] of Object.entries(d.fields ?? {})) {
    if (v === undefined) continue;
    if (v.trim() === '') delete fields[f];
    else fields[f] = v.trim();
  }
  const prior = (env.outputs[via] ?? {}) as Record<string, unknown>;
  // A corrected product is routed by the group of its corrected category (it had gone to the old
  // group's extractor); the stages after it route it the same way (lib/stream/forwarder.ts).
  const groups = parseGroups(`stages.${via}.settings.groups`, config.stages.find((s) => s.name === via)?.settings.groups);
  const corrected = asReviewed(prior, { category, fields, reviewedBy: d.reviewer }, item.category, groups);
  const targets = router.route(corrected).targets.filter((t) => inputs.has(t) && !config.streams.terminal.includes(t));
  if (targets.length === 0)
    throw new RouteError(
      `routes.${via}: a product of category ${JSON.stringify(category)} goes to no stage (only to ${router.route(corrected).targets.join(', ')})`,
    );
  const now = await serverTimeMs(redis);
  // The decision is the product's newest version: it must not lose to a reprocess made after the
  // item entered review (the store keeps the newest by origin, and had dropped the decision).
  const decidedAt = `${now}-0`;
  const origin = env.origin !== undefined && compareIds(env.origin, decidedAt) > 0 ? env.origin : decidedAt;
  const decision = category === item.category && Object.keys(d.fields ?? {}).every((f) => (fields[f] ?? '') === (item.fields[f] ?? '')) ? 'confirm' : 'correct';
  const next: Envelope = {
    ...env,
    origin,
    outputs: {
      ...env.outputs,
      [REVIEW_STAGE]: {
        category,
        ...fields,
        confidence: 1,
        reviewedBy: d.reviewer,
        decision,
        predicted: { category: item.category, confidence: item.confidence },
      },
    },
    hops: [...env.hops, { stage: REVIEW_STAGE, consumer: d.reviewer, readAt: Number(id.split('-')[0]), doneAt: now, batch: 1 }],
  };
  const label: Label = {
    id: env.key,
    title: env.input.title,
    category,
    ...labelFields(fields, d.fields),
    source_category: item.category ?? '',
    source: 'console-review',
    decision,
    predicted: { category: item.category, confidence: item.confidence },
    reviewedBy: d.reviewer,
    reviewedAt: now,
  };
  const ids = await decide.run<string[] | number>(
    redis,
    [key, keys.extra('labels'), ...targets.map((t) => keys.stream(t))],
    [REVIEW_GROUP, id, env.key, encodeEnvelope(next), JSON.stringify(label)],
  );
  if (!Array.isArray(ids)) return undefined;
  return { label, sentTo: targets.map((t, i) => ({ stream: t, id: String(ids[i]) })) };
}
