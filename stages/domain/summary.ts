import type { Envelope } from '../../lib/stream/codec.js';

/** Fields the store indexes, taken from the latest stage output that has them. */
export const SUMMARY_FIELDS = ['category', 'confidence', 'brand', 'mpn', 'gtin', 'gtinValid', 'duplicateOf', 'reviewedBy'] as const;

/** The output a human review decision adds (lib/console/review.ts): its category and fields stand over every model's. */
const REVIEW_OUTPUT = 'review';
export type Summary = Partial<Record<(typeof SUMMARY_FIELDS)[number], string | number | boolean>>;

/** Stage outputs in the order the message visited the stages. */
export function outputsInOrder(env: Envelope): Record<string, unknown>[] {
  return env.hops.map((h) => env.outputs[h.stage]).filter((o): o is Record<string, unknown> => !!o && typeof o === 'object');
}

/** The latest scalar value of each summary field across `outputs`, in the order given (later ones win). */
export function latestValues(outputs: readonly Record<string, unknown>[]): Summary {
  const out: Summary = {};
  for (const o of outputs) {
    for (const f of SUMMARY_FIELDS) {
      const v = o[f];
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[f] = v;
    }
  }
  return out;
}

/** The latest scalar value of each summary field across the stage outputs (later stages win; a reviewer's decision wins over all). */
export function summarize(env: Envelope): Summary {
  const review = env.outputs[REVIEW_OUTPUT];
  const reviewed =
    review && typeof review === 'object' && typeof (review as Record<string, unknown>).reviewedBy === 'string' ? [review as Record<string, unknown>] : [];
  return latestValues([...outputsInOrder(env), ...reviewed]);
}

/** MPN and GTIN as found so far (by preprocess from the input, or by an extractor from the text). */
export function identifiersOf(env: Envelope): { mpn?: string; gtin?: string } {
  return identifiersIn(summarize(env));
}

/** The non-empty MPN and GTIN of a summary. */
export function identifiersIn(s: Summary): { mpn?: string; gtin?: string } {
  return {
    mpn: typeof s.mpn === 'string' && s.mpn ? s.mpn : undefined,
    gtin: typeof s.gtin === 'string' && s.gtin ? s.gtin : undefined,
  };
}
