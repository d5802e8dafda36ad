/**
 * The record size limit (lib/producer/record.ts validateRecord) for records that arrive without
 * their own line (the API's JSON arrays): a flat record is measured by an upper bound and
 * stringified only when the bound is over the limit, so the decision must be exactly
 * `Buffer.byteLength(JSON.stringify(record)) <= maxBytes` for every record, near the limit too.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BadRecordError } from '../../lib/core/errors.js';
import { validateRecord } from '../../lib/producer/record.js';

/** Deterministic pseudo-random numbers (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ASCII, 2- and 3-byte UTF-8, a surrogate pair (4 bytes), characters JSON escapes ("\n", "\u0001", '"').
const PIECES = ['a', 'Z', '7', ' ', 'é', '€', '™', '😀', '\n', '\u0001', '"', '\\'];

function randomText(next: () => number, units: number): string {
  let s = '';
  while (s.length < units) s += PIECES[Math.floor(next() * PIECES.length)];
  return s;
}

function accepted(value: Record<string, unknown>, maxBytes: number): boolean {
  try {
    validateRecord(value, maxBytes);
    return true;
  } catch (err) {
    if (!(err instanceof BadRecordError)) throw err;
    return false;
  }
}

test('flat records: accepted exactly when their JSON fits, at and around the limit', () => {
  const next = rng(11);
  let near = 0;
  for (let i = 0; i < 3000; i++) {
    const record: Record<string, unknown> = { id: `r${i}`, title: `t${randomText(next, Math.floor(next() * 60))}` };
    if (next() < 0.5) record.brand = randomText(next, Math.floor(next() * 10));
    if (next() < 0.3) record.price = next() < 0.5 ? 1e21 * next() : -Math.floor(next() * 1000);
    if (next() < 0.2) record.gtin = null;
    const exact = Buffer.byteLength(JSON.stringify(record));
    // Limits from far below to far above the exact size, most within a few bytes of it.
    const maxBytes = Math.max(1, exact + Math.floor((next() - 0.5) * (next() < 0.8 ? 8 : 400)));
    if (Math.abs(maxBytes - exact) <= 4) near++;
    assert.is(accepted({ ...record }, maxBytes), exact <= maxBytes, `${JSON.stringify(record)} is ${exact} bytes, limit ${maxBytes}`);
  }
  assert.ok(near > 1000, `${near} cases within 4 bytes of the limit`);
});

test('an over-limit record names its exact size and the setting; a nested one is still measured and depth-checked', () => {
  const title = 'é'.repeat(40); // 80 bytes of UTF-8, 240 by the bound
  const exact = Buffer.byteLength(JSON.stringify({ id: 'x', title }));
  assert.ok(accepted({ id: 'x', title }, exact));
  assert.throws(
    () => validateRecord({ id: 'x', title }, exact - 1),
    (e: Error) => e.message === `record is ${exact} bytes, over the limit of ${exact - 1} (limits.maxRecordBytes)`,
  );
  // The worst cases for the bound: every unit a 6-byte escape, or a 3-byte character.
  for (const unit of ['\u0001', '€']) {
    const r = { id: 'w', title: 't', description: unit.repeat(500) }; // a title of controls alone has no visible character
    const bytes = Buffer.byteLength(JSON.stringify(r));
    assert.ok(accepted({ ...r }, bytes), `${bytes} bytes at a limit of ${bytes}`);
    assert.not.ok(accepted({ ...r }, bytes - 1), `${bytes} bytes at a limit of ${bytes - 1}`);
  }
  const nested = { id: 'n', title: 't', extra: { a: [1, 2, { b: 'c'.repeat(50) }] } };
  const nestedBytes = Buffer.byteLength(JSON.stringify(nested));
  assert.ok(accepted({ ...nested }, nestedBytes));
  assert.not.ok(accepted({ ...nested }, nestedBytes - 1));
  let deep: unknown = [];
  for (let i = 0; i < 40; i++) deep = [deep];
  assert.throws(() => validateRecord({ id: 'd', title: 't', extra: deep }, 1_000_000), /deeper than 32 levels/);
});

test('a size given by the caller (the line it came from) is the one compared', () => {
  assert.ok(accepted({ id: 'a', title: 'b' }, 22)); // {"id":"a","title":"b"}
  assert.throws(() => validateRecord({ id: 'a', title: 'b' }, 22, 23), /record is 23 bytes, over the limit of 22/);
});

test('ids a URL path cannot carry ("." and "..") are refused, naming the field; ids that merely contain dots are not', () => {
  for (const id of ['.', '..']) assert.throws(() => validateRecord({ id, title: 't' }, 1000), /field "id": "\.{1,2}" is not an id a URL path can carry/);
  for (const id of ['...', 'a.b', '.x']) assert.ok(accepted({ id, title: 't' }, 1000));
});

test.run();
