/**
 * Two attribute spans of one kind joined by "to" are one range: a wall mount "for 37-Inch to
 * 52-Inch Flat Screen TV" fits screens of 37 to 52 inches. The tagger tags the two ends apart,
 * and which one the field took depended on their scores (24 of the 807 sizes over train and dev
 * titles were such an end). Joined, the field gives the range (units.ts: the upper end as
 * `value`, the lower as `min`).
 */
import type { Entity } from '../../lib/models/bio.js';
import { IDENTIFIER_TYPES } from './attribute-spans.js';

/** What may sit between the two ends: "to", "-to-". */
const BETWEEN = /^\s*-?to-?\s*$/i;

/**
 * `entities` with each pair of same-type attribute spans that reads "A to B" joined into one span
 * (the better score), where A came first. A span joins at most once: "A to B to C" gives "A to B", C.
 */
export function joinRanges(text: string, entities: readonly Entity[]): Entity[] {
  const joined = new Map<Entity, Entity>();
  const dropped = new Set<Entity>();
  const byStart = entities.filter((e) => !IDENTIFIER_TYPES.has(e.type)).sort((a, b) => a.start - b.start);
  for (const [i, a] of byStart.entries()) {
    if (dropped.has(a) || joined.has(a)) continue;
    const b = byStart.slice(i + 1).find((e) => e.type === a.type && e.start >= a.end);
    if (b === undefined || !BETWEEN.test(text.slice(a.end, b.start))) continue;
    joined.set(a, { ...a, end: b.end, text: text.slice(a.start, b.end), score: Math.max(a.score, b.score) });
    dropped.add(b);
  }
  return joined.size === 0 ? [...entities] : entities.filter((e) => !dropped.has(e)).map((e) => joined.get(e) ?? e);
}
