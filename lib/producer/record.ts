import { BadRecordError } from '../core/errors.js';
import type { ProductRecord } from '../stream/codec.js';

const OPTIONAL_STRINGS = ['description', 'brand', 'mpn', 'gtin', 'category'] as const;

/** Deepest nesting of objects and arrays a record may have: the envelope codec recurses, and a few thousand levels overflow its stack. */
export const MAX_DEPTH = 32;

/** Nesting depth of a parsed JSON value, without recursion (stops counting past `limit`). */
function depthOf(value: unknown, limit: number): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0 && max <= limit) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    max = Math.max(max, d);
    for (const child of Object.values(v)) stack.push([child, d + 1]);
  }
  return max;
}

/**
 * Check a parsed input record: an object with a non-empty string `id` and `title`, optional string
 * fields of the right type, at most `maxBytes` of JSON. Throws BadRecordError saying which field and why.
 */
export function validateRecord(value: unknown, maxBytes: number, size?: number): ProductRecord {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new BadRecordError('record is not a JSON object');
  const r = value as Record<string, unknown>;
  // Only integers that convert exactly: 1e30 would become "1e+30", and two different ids one key.
  if (typeof r.id === 'number' && Number.isSafeInteger(r.id)) r.id = String(r.id);
  if (typeof r.id !== 'string' || r.id.trim() === '') throw new BadRecordError('field "id": expected a non-empty string');
  if (r.id.length > 256) throw new BadRecordError('field "id": longer than 256 characters');
  if (typeof r.title !== 'string' || r.title.trim() === '') throw new BadRecordError('field "title": expected a non-empty string');
  for (const f of OPTIONAL_STRINGS) {
    if (r[f] !== undefined && r[f] !== null && typeof r[f] !== 'string') throw new BadRecordError(`field "${f}": expected a string, got ${typeof r[f]}`);
  }
  if (depthOf(r, MAX_DEPTH) > MAX_DEPTH) throw new BadRecordError(`record nests objects or arrays deeper than ${MAX_DEPTH} levels`);
  const bytes = size ?? Buffer.byteLength(JSON.stringify(r));
  if (bytes > maxBytes) throw new BadRecordError(`record is ${bytes} bytes, over the limit of ${maxBytes}`);
  return r as ProductRecord;
}
