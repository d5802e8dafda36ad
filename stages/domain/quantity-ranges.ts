/**
 * Two attribute spans of one kind joined by "to" are one range: a wall mount "for 37-Inch to
 * 52-Inch Flat Screen TV" fits screens of 37 to 52 inches. The tagger tags the two ends apart,
 * and which one the field took depended on their scores (24 of the 807 sizes over train and dev
 * titles were such an end). Joined, the field gives the range (units.ts: the upper end as
 * `value`, the lower as `min`).
 */
import type { Entity } from '../../lib/models/bio.js';

/** Identifier types: their spans are never joined. */
const IDENTIFIERS = new Set(['BRAND', 'MPN', 'GTIN']);

/** What may sit between the two ends: "to", "-to-". */
const BETWEEN = /^\s*-?to-?\s*$/i;

/** `entities` with each pair of same-type attribute spans that reads "A to B" joined into one span (the better score). */
export function joinRanges(text: string, entities: readonly Entity[]): Entity[] {
  const out = [...entities];
  const byStart = entities.filter((e) => !IDENTIFIERS.has(e.type)).sort((a, b) => a.start - b.start);
  for (let i = 0; i + 1 < byStart.length; i++) {
    const a = byStart[i]!;
    const b = byStart.slice(i + 1).find((e) => e.type === a.type && e.start >= a.end);
    if (b === undefined || !BETWEEN.test(text.slice(a.end, b.start))) continue;
    const joined: Entity = { ...a, end: b.end, text: text.slice(a.start, b.end), score: Math.max(a.score, b.score) };
    out.splice(out.indexOf(a), 1, joined);
    out.splice(out.indexOf(b), 1);
  }
  return out;
}
