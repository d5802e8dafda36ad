import { normalizeAttributes, type Quantity } from '../../stages/domain/units.js';
import { attributeSpans, foldValue, GROUPS } from '../labels.js';

/** One row for the attribute scores: its title and labelled category, and what the pipeline stored. */
export interface AttributeRow {
  title: string;
  category: string;
  /** The extractor's `attributes` (name → `{ value, unit, text }`, or `{ text }` when it did not parse). */
  predicted?: Record<string, unknown>;
  /** validate's `attributesComplete`: false when the category's schema requires an attribute the record lacks; undefined when no schema applied. */
  complete?: boolean;
}

export interface AttributeKind {
  /** The attribute (`size`, `capacity`, `length`): rows whose title has a span of it the training labeller finds, and which parses. */
  name: string;
  n: number;
  /** The pipeline's value and unit are those of one of the title's labelled spans. */
  valueRight: number;
  /** Its text is one of those spans (letters and digits, case-folded). */
  textRight: number;
}

export interface AttributeScores {
  kinds: AttributeKind[];
  /** Rows whose title has no such span for their category's group, and how many were given that attribute all the same. */
  unlabelled: { n: number; given: number };
  /** Rows validate checked against a category schema; those flagged missing a required attribute; of those, ones whose title has a labelled span (the extractor missed it). */
  schema: { checked: number; flagged: number; flaggedWithSpan: number };
}

const isQuantity = (v: unknown): v is Quantity => v !== null && typeof v === 'object' && typeof (v as Quantity).value === 'number';
const sameQuantity = (a: Quantity, b: Quantity): boolean => a.unit === b.unit && Math.abs(a.value - b.value) < 1e-9 && a.min === b.min;

/**
 * Attribute figures for `pipeline eval`. The data has no attribute labels, so the reference is the
 * one the extractors were trained on (training/labels.ts): the spans its regex finds in the title
 * for the labelled category's group (screen sizes, capacities, lengths), normalised by the same
 * units.ts as the extract stage. A title can hold several (a drive's "1 TB" and its "64 MB
 * Cache"); the pipeline's value counts as right when it is any of them. The labeller is the
 * taggers' teacher, not a gold standard: it takes a rate's "3 Gb s" for a capacity, which the
 * extract stage skips on purpose, and misses a size followed by a number ("50-Inch 720p").
 */
export function scoreAttributes(rows: readonly AttributeRow[]): AttributeScores {
  const kinds = new Map<string, AttributeKind>();
  const unlabelled = { n: 0, given: 0 };
  const schema = { checked: 0, flagged: 0, flaggedWithSpan: 0 };
  for (const r of rows) {
    const group = GROUPS.find((g) => g.categories.includes(r.category));
    const name = group?.attribute.toLowerCase();
    const spans = group ? attributeSpans(r.title, group).map((s) => r.title.slice(s.start, s.end)) : [];
    const gold = name ? spans.flatMap((t) => normalizeAttributes({ [name]: t })[name] ?? []).filter(isQuantity) : [];
    if (r.complete !== undefined) {
      schema.checked++;
      if (!r.complete) {
        schema.flagged++;
        if (gold.length > 0) schema.flaggedWithSpan++;
      }
    }
    if (!name) continue;
    const got = r.predicted?.[name];
    if (gold.length === 0) {
      unlabelled.n++;
      if (got !== undefined) unlabelled.given++;
      continue;
    }
    let k = kinds.get(name);
    if (!k) kinds.set(name, (k = { name, n: 0, valueRight: 0, textRight: 0 }));
    k.n++;
    if (isQuantity(got) && gold.some((g) => sameQuantity(g, got))) k.valueRight++;
    const text = (got as { text?: unknown } | undefined)?.text;
    if (typeof text === 'string' && gold.some((g) => foldValue(g.text) === foldValue(text))) k.textRight++;
  }
  return { kinds: [...kinds.values()].sort((a, b) => a.name.localeCompare(b.name)), unlabelled, schema };
}
