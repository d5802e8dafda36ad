import { BadRecordError } from './errors.js';
import type { ProductRecord } from './codec.js';

const OPTIONAL_STRINGS = ['description', 'brand', 'mpn', 'gtin', 'category'] as const;

/**
 * Check a parsed input record: an object with a non-empty string `id` and `title`, optional string
 * fields of the right type, at most `maxBytes` of JSON. Throws BadRecordError saying which field and why.
 */
export function validateRecord(value: unknown, maxBytes: number, size?: number): ProductRecord {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new BadRecordError('record is not a JSON object');
  const r = value as Record<string, unknown>;
  if (typeof r.id === 'number' && Number.isFinite(r.id)) r.id = String(r.id);
  if (typeof r.id !== 'string' || r.id.trim() === '') throw new BadRecordError('field "id": expected a non-empty string');
  if (r.id.length > 256) throw new BadRecordError('field "id": longer than 256 characters');
  if (typeof r.title !== 'string' || r.title.trim() === '') throw new BadRecordError('field "title": expected a non-empty string');
  for (const f of OPTIONAL_STRINGS) {
    if (r[f] !== undefined && r[f] !== null && typeof r[f] !== 'string') throw new BadRecordError(`field "${f}": expected a string, got ${typeof r[f]}`);
  }
  const bytes = size ?? Buffer.byteLength(JSON.stringify(r));
  if (bytes > maxBytes) throw new BadRecordError(`record is ${bytes} bytes, over the limit of ${maxBytes}`);
  return r as ProductRecord;
}
