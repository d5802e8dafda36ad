/**
 * Attribute values with units, from the extractor's raw spans: "64GB" → { value: 64, unit: "GB",
 * text: "64GB" }, "55-Inch" → { value: 55, unit: "in" }, "6 ft" → { value: 6, unit: "ft",
 * metres: 1.8288, feet: 6 }. A span that does not parse keeps its text only.
 *
 * "1,000 GB" and "1 000 FT" are thousands (the comma had been read as a decimal point: 1 GB); a
 * decimal comma stays one ("1,5 TB"). A value of 0 is no quantity ("000 GB" of a span cut
 * inside "1,000 GB" had been stored as 0 GB, which a schema's `required` took as present).
 * Inch and foot marks count as units: `65"`, `70″` (what NFKC makes `70′′`), `6'`, `6′`. A span
 * running on past its quantity ("6 Feet (1.8 Meters") keeps the text up to the quantity.
 */

export interface Quantity {
  /** The number as written. */
  value: number;
  /** Canonical unit: KB MB GB TB (capacity), in (screen size), m cm ft (length). */
  unit: string;
  /** The span as it appears in the title. */
  text: string;
  /** Lengths only: the value in metres and in feet (rounded to 4 decimals). */
  metres?: number;
  feet?: number;
  /** A range ("37-Inch to 52-Inch", what a wall mount fits): its lower end; `value` is the upper. */
  min?: number;
}

export interface RawAttribute {
  text: string;
}

const UNIT: Record<string, string> = {
  kb: 'KB',
  mb: 'MB',
  gb: 'GB',
  tb: 'TB',
  gig: 'GB',
  gigs: 'GB',
  gigabyte: 'GB',
  gigabytes: 'GB',
  terabyte: 'TB',
  terabytes: 'TB',
  megabyte: 'MB',
  megabytes: 'MB',
  in: 'in',
  'in.': 'in',
  inch: 'in',
  inches: 'in',
  '"': 'in',
  "''": 'in',
  '″': 'in',
  '′′': 'in',
  '′': 'ft',
  ft: 'ft',
  'ft.': 'ft',
  feet: 'ft',
  foot: 'ft',
  "'": 'ft',
  m: 'm',
  meter: 'm',
  meters: 'm',
  metre: 'm',
  metres: 'm',
  cm: 'cm',
  mm: 'mm',
};

/** The unit words of two letters or more ("mm", "ft", "inch", "gb", "gigabytes"): what a number beside them measures in. */
export const UNIT_WORDS: ReadonlySet<string> = new Set(Object.keys(UNIT).filter((u) => /^[a-z]{2,}$/.test(u)));

/** Metres per unit, for lengths. */
const METRES: Record<string, number> = { m: 1, cm: 0.01, mm: 0.001, ft: 0.3048, in: 0.0254 };

/** Which units each attribute accepts (a "16 in" where a length is expected is still a length). */
export const ATTRIBUTE_UNITS: Record<string, readonly string[]> = {
  capacity: ['KB', 'MB', 'GB', 'TB'],
  size: ['in'],
  length: ['m', 'cm', 'mm', 'ft', 'in'],
};

const QUANTITY =
  /(\d{1,3}(?:,\d{3})+(?!\d)(?:\.\d+)?|\d{1,3}(?: \d{3})+(?![\d.,])|\d+(?:[.,]\d+)?)\s*-?\s*(gigabytes?|terabytes?|megabytes?|gigs?|inches|inch|in\.?|feet|foot|ft\.?|meters?|metres?|[kmgt]b|cm|mm|m|"|''|'|″|′′|′)(?![a-z])/i;

/** "1,000" and "1 000" → 1000 (groups of three after the first); "1,5" → 1.5. */
function numberOf(text: string): number {
  return /^\d{1,3}(?:[, ]\d{3})+(?:\.\d+)?$/.test(text) ? Number(text.replace(/[, ]/g, '')) : Number(text.replace(',', '.'));
}

const round4 = (v: number): number => Math.round(v * 1e4) / 1e4;

/** The first number-with-unit in `text`, for `attribute` (capacity, size, length); null if none parses. */
export function parseQuantity(attribute: string, text: string): Quantity | null {
  const m = QUANTITY.exec(text);
  if (m === null) return null;
  const value = numberOf(m[1]!);
  const unit = UNIT[m[2]!.toLowerCase()];
  if (!Number.isFinite(value) || value <= 0 || unit === undefined) return null;
  const allowed = ATTRIBUTE_UNITS[attribute];
  if (allowed !== undefined && !allowed.includes(unit)) return null;
  const q: Quantity = { value, unit, text: text.slice(0, m.index + m[0].length).trimEnd() };
  if (attribute === 'length' && METRES[unit] !== undefined) {
    const metres = value * METRES[unit];
    Object.assign(q, { metres: round4(metres), feet: round4(metres / 0.3048) });
  }
  return q;
}

/** "A to B" of two quantities in one unit, as `{ value: B, min: A }`; null when it is no such range. */
function parseRange(attribute: string, text: string): Quantity | null {
  const m = /^(.+?)\s*-?to-?\s*(.+)$/i.exec(text);
  if (m === null) return null;
  const low = parseQuantity(attribute, m[1]!);
  const high = parseQuantity(attribute, m[2]!);
  if (low === null || high === null || low.unit !== high.unit || low.value >= high.value) return null;
  return { ...high, text, min: low.value };
}

/** Each attribute's raw text → a Quantity, or `{ text }` when it does not parse. */
export function normalizeAttributes(raw: Record<string, string>): Record<string, Quantity | RawAttribute> {
  const out: Record<string, Quantity | RawAttribute> = {};
  for (const [name, text] of Object.entries(raw)) out[name] = parseRange(name, text) ?? parseQuantity(name, text) ?? { text };
  return out;
}
