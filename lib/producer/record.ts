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

/** Bytes one UTF-16 unit can take in JSON text: 6 for a `\u0000` escape (3 in UTF-8 otherwise). */
const MAX_BYTES_PER_UNIT = 6;
/** The longest JSON a number can print as ("-1.2345678901234567e-308"). */
const MAX_NUMBER_CHARS = 24;

/**
 * An upper bound on the UTF-8 bytes of `JSON.stringify(r)` when `r` is flat (every value a string,
 * number, boolean or null), else undefined. Lets a record parsed from a larger body (an API array)
 * skip stringifying itself to be measured: only one whose bound is over the limit is measured exactly.
 */
function flatJsonBound(r: Record<string, unknown>): number | undefined {
  let bound = 2;
  for (const key of Object.keys(r)) {
    const v = r[key];
    bound += MAX_BYTES_PER_UNIT * key.length + 4; // quotes, colon, comma
    if (typeof v === 'string') bound += MAX_BYTES_PER_UNIT * v.length + 2;
    else if (typeof v === 'number' || typeof v === 'boolean' || v === null) bound += MAX_NUMBER_CHARS;
    else return undefined;
  }
  return bound;
}

/** A character that shows: not white space, a control (Cc) or a format character (Cf: zero-width, soft hyphen, direction marks). */
const VISIBLE = /[^\p{White_Space}\p{Cc}\p{Cf}]/u;

const BROKEN_TEXT = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]|\uFFFD/;

/**
 * Why `id` can never be a product's id, or undefined: what a record's `id` is checked for, and what
 * the routes taking a product id in their path answer 400 with (GET /v1/products/%2E%2E had been a 404).
 */
export function productIdProblem(id: string): string | undefined {
  if (id.trim() === '') return 'expected a non-empty string';
  if (id.length > 256) return 'longer than 256 characters';
  // HTTP clients resolve these as path segments (/v1/products/.. is /v1/): the product could not be looked up.
  if (id === '.' || id === '..') return `"${id}" is not an id a URL path can carry`;
  // The id is the product's key: a lone surrogate or a U+FFFD (bytes that were not UTF-8) would
  // become U+FFFD on the way to Redis, and different ids one product.
  if (BROKEN_TEXT.test(id)) return 'not well-formed text (a lone surrogate, or U+FFFD from bytes that were not UTF-8)';
  return undefined;
}

/**
 * Check a parsed input record: an object with a non-empty string `id` and `title`, optional string
 * fields of the right type, at most `maxBytes` of JSON (`size` when the caller knows it, e.g. the
 * line it came from; else as `JSON.stringify` writes it). Throws BadRecordError saying which field and why.
 */
export function validateRecord(value: unknown, maxBytes: number, size?: number): ProductRecord {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new BadRecordError('record is not a JSON object');
  const r = value as Record<string, unknown>;
  // JSON.parse keeps "__proto__" as a plain key, but a msgpack reader renames it (msgpackr: "__proto_"): the stored record would differ from the one sent.
  if (Object.hasOwn(r, '__proto__')) throw new BadRecordError('field "__proto__": a reserved name, not allowed in a record');
  // Only integers that convert exactly: 1e30 would become "1e+30", and two different ids one key.
  if (typeof r.id === 'number' && Number.isSafeInteger(r.id)) r.id = String(r.id);
  // Any other number: "expected a non-empty string" had read as if no number were taken.
  if (typeof r.id === 'number')
    throw new BadRecordError(`field "id": a number is taken only as an integer of at most 2^53 - 1 (read as ${r.id}): send it as a string`);
  if (typeof r.id !== 'string') throw new BadRecordError('field "id": expected a non-empty string');
  const idProblem = productIdProblem(r.id);
  if (idProblem) throw new BadRecordError(`field "id": ${idProblem}`);
  if (typeof r.title !== 'string' || r.title.trim() === '') throw new BadRecordError('field "title": expected a non-empty string');
  // A title of zero-width or control characters alone (U+200B, U+00AD, U+0001) is empty once
  // preprocess cleans it: the classifier would be given nothing and still pick a category.
  if (!VISIBLE.test(r.title)) throw new BadRecordError('field "title": no visible character (only white space, control or zero-width characters)');
  for (const f of OPTIONAL_STRINGS) {
    if (r[f] !== undefined && r[f] !== null && typeof r[f] !== 'string') throw new BadRecordError(`field "${f}": expected a string, got ${typeof r[f]}`);
  }
  const bound = size === undefined ? flatJsonBound(r) : undefined;
  if (bound === undefined && depthOf(r, MAX_DEPTH) > MAX_DEPTH) throw new BadRecordError(`record nests objects or arrays deeper than ${MAX_DEPTH} levels`);
  if (bound !== undefined && bound <= maxBytes) return r as ProductRecord;
  const bytes = size ?? Buffer.byteLength(JSON.stringify(r));
  if (bytes > maxBytes) throw new BadRecordError(`record is ${bytes} bytes, over the limit of ${maxBytes} (limits.maxRecordBytes)`);
  return r as ProductRecord;
}
