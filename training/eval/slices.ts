/**
 * Robustness slices computed from a labelled set, without the private held-out set: each
 * stresses one way listings from another retailer differ from the training data.
 *
 * - `unseen-brand`: rows whose brand never occurs as a brand in the training file (same rows, same titles)
 * - `no-mpn`: rows whose model number occurs in the title, with it removed
 * - `no-brand`: rows whose brand occurs in the title, with it removed (listings that name no brand,
 *   or one the classifier cannot lean on)
 * - `brand-last`: rows whose title starts with the brand, with the brand moved to the end after " - "
 *   (another retailer's habit of where the brand goes; the training titles mostly start with it)
 * - `first-8-words`: every row, title cut to its first 8 words
 * - `lower-case`: every row, title lower-cased
 */
import { fold } from './metrics.js';

export const SLICE_NAMES = ['unseen-brand', 'no-mpn', 'no-brand', 'brand-last', 'first-8-words', 'lower-case'] as const;
export type SliceName = (typeof SLICE_NAMES)[number];

export interface SliceRow {
  id: string;
  title: string;
  category: string;
  brand?: string;
  mpn?: string;
}

export interface SliceMember {
  /** Id of the source row. */
  id: string;
  /** The title this slice gives the row (may equal the source title). */
  title: string;
}

export interface Slice {
  name: SliceName;
  members: SliceMember[];
}

const isAlnum = (c: string): boolean => /[a-z0-9]/i.test(c);

/**
 * `title` without every occurrence of `value` (compared on letters and digits, case-folded, on
 * letter/digit-run boundaries, so "KTD-DM8400A/1G" is removed from "KTD-DM8400A 1G"); null when
 * it does not occur.
 */
export function removeValue(title: string, value: string): string | null {
  const needle = fold(value);
  if (needle === '') return null;
  const pos: number[] = [];
  let hay = '';
  for (let i = 0; i < title.length; i++) {
    const ch = title.charAt(i);
    if (isAlnum(ch)) {
      hay += ch.toLowerCase();
      pos.push(i);
    }
  }
  const cuts: [number, number][] = [];
  for (let at = hay.indexOf(needle); at >= 0; at = hay.indexOf(needle, at + 1)) {
    const start = pos[at]!;
    const end = pos[at + needle.length - 1]! + 1;
    const before = start === 0 ? ' ' : title.charAt(start - 1);
    const after = end >= title.length ? ' ' : title.charAt(end);
    if (!isAlnum(before) && !isAlnum(after)) {
      cuts.push([start, end]);
      at += needle.length - 1;
    }
  }
  if (cuts.length === 0) return null;
  let out = '';
  let last = 0;
  for (const [s, e] of cuts) {
    out += `${title.slice(last, s)} `;
    last = e;
  }
  out += title.slice(last);
  // Punctuation left dangling by the cut ("- ", "( )") goes with it.
  return out
    .replace(/\(\s*\)|\[\s*\]/g, ' ')
    .replace(/\s+([-,/])(?=\s|$)/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** The brand as written at the start of `title` (case-folded match, then a space or punctuation) and the rest of the title; null when it does not start with it or nothing follows. */
export function leadingBrand(title: string, brand: string): { brand: string; rest: string } | null {
  const b = brand.trim();
  if (b === '' || title.length <= b.length || title.slice(0, b.length).toLowerCase() !== b.toLowerCase() || isAlnum(title.charAt(b.length))) return null;
  const rest = title
    .slice(b.length)
    .replace(/^[\s\-,:|/]+/, '')
    .trim();
  return rest === '' ? null : { brand: title.slice(0, b.length), rest };
}

/** `title` with its leading `brand` moved to the end after `separator`; null when it does not start with it. */
export function brandLast(title: string, brand: string, separator = ' - '): string | null {
  const lead = leadingBrand(title, brand);
  return lead === null ? null : `${lead.rest}${separator}${lead.brand}`;
}

export function firstWords(title: string, n: number): string {
  return title
    .split(/\s+/)
    .filter((w) => w !== '')
    .slice(0, n)
    .join(' ');
}

/** Rows whose `value` occurs in the title, with it removed (none left empty). */
function without(rows: readonly SliceRow[], value: (r: SliceRow) => string | undefined): SliceMember[] {
  const out: SliceMember[] = [];
  for (const r of rows) {
    const v = value(r);
    const t = v ? removeValue(r.title, v) : null;
    if (t !== null && t !== '') out.push({ id: r.id, title: t });
  }
  return out;
}

/** Rows whose title starts with the brand, the brand moved to the end. */
function brandAtEnd(rows: readonly SliceRow[]): SliceMember[] {
  const out: SliceMember[] = [];
  for (const r of rows) {
    const t = r.brand ? brandLast(r.title, r.brand) : null;
    if (t !== null) out.push({ id: r.id, title: t });
  }
  return out;
}

/** The six slices of `rows`; `trainBrands` are the folded brands of the training file. */
export function makeSlices(rows: readonly SliceRow[], trainBrands: ReadonlySet<string>): Slice[] {
  return [
    { name: 'unseen-brand', members: rows.filter((r) => fold(r.brand) !== '' && !trainBrands.has(fold(r.brand))).map((r) => ({ id: r.id, title: r.title })) },
    { name: 'no-mpn', members: without(rows, (r) => r.mpn) },
    { name: 'no-brand', members: without(rows, (r) => r.brand) },
    { name: 'brand-last', members: brandAtEnd(rows) },
    { name: 'first-8-words', members: rows.map((r) => ({ id: r.id, title: firstWords(r.title, 8) })) },
    { name: 'lower-case', members: rows.map((r) => ({ id: r.id, title: r.title.toLowerCase() })) },
  ];
}
