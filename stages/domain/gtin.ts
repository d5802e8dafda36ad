/** GTIN-8/12/13/14 (EAN-8, UPC-A, EAN-13, GTIN-14): mod-10 check digit, weights 3/1 from the right. */

export type GtinType = 'GTIN-8' | 'GTIN-12' | 'GTIN-13' | 'GTIN-14';
const TYPES: Record<number, GtinType> = { 8: 'GTIN-8', 12: 'GTIN-12', 13: 'GTIN-13', 14: 'GTIN-14' };

export interface GtinCheck {
  /** Digits only, as given (no padding). */
  value: string;
  type?: GtinType;
  valid: boolean;
  /** Why it is invalid (`zero`: an all-zero body, "000000000000", a placeholder, no product's code). */
  reason?: 'length' | 'non_digit' | 'check_digit' | 'zero';
}

/** The check digit for a code's body (all digits but the last). */
export function gtinCheckDigit(body: string): number {
  let sum = 0;
  for (let i = body.length - 1, w = 3; i >= 0; i--, w = 4 - w) sum += (body.charCodeAt(i) - 48) * w;
  return (10 - (sum % 10)) % 10;
}

/** Validate a GTIN; spaces and dashes inside the code are ignored ("0 12345 67890 5"). */
export function checkGtin(raw: string): GtinCheck {
  const value = raw.replace(/[\s-]/g, '');
  if (!/^\d+$/.test(value)) return { value, valid: false, reason: 'non_digit' };
  const type = TYPES[value.length];
  if (!type) return { value, valid: false, reason: 'length' };
  if (/^0+$/.test(value.slice(0, -1))) return { value, type, valid: false, reason: 'zero' };
  const ok = gtinCheckDigit(value.slice(0, -1)) === value.charCodeAt(value.length - 1) - 48;
  return ok ? { value, type, valid: true } : { value, type, valid: false, reason: 'check_digit' };
}

/**
 * Codes as printed in groups: joined by dashes ("0-12345-67890-5", ISBN-13 "978-0-306-40615-7"),
 * or by spaces in a barcode's own layout (UPC-A "0 12345 67890 5", EAN-13 "4 006381 333931").
 * Only 12 or 13 digits in all; never glued to a letter or another digit group, so digit runs
 * apart in a title ("C8727a 8727a … C8727 8727") are never joined.
 */
const DASHED = /(?<![\p{L}\p{N}-])\d{1,7}(?:-\d{1,7}){1,4}(?![\p{L}\p{N}]|-[\p{L}\p{N}])/gu;
const SPACED = /(?<![\p{L}\p{N}-])(?:\d \d{5} \d{5} \d|\d \d{6} \d{6})(?![\p{L}\p{N}]|[ -]\d)/gu;

/** An EAN-8 only where the title labels it: "EAN-8: 96385074", "EAN: 9638 5074" (any 8 digits could be one). */
const LABELLED_EAN8 = /\bEAN(?:-?8)?\s*[:#]?\s*(\d{4}[ -]?\d{4})(?![\p{L}\p{N}]|[ -]\d)/giu;

/**
 * Candidate barcodes in free text that carry a valid check digit, as digits, in title order:
 * 12–14 digit runs, 12/13-digit codes printed in groups (DASHED, SPACED), and a labelled EAN-8.
 */
export function findGtins(text: string): string[] {
  const found: { at: number; code: string }[] = [];
  const add = (at: number, raw: string, lengths: readonly number[]) => {
    const code = raw.replace(/[ -]/g, '');
    if (lengths.includes(code.length) && checkGtin(code).valid && !found.some((f) => f.at === at)) found.push({ at, code });
  };
  for (const m of text.matchAll(/(?<![\d])\d{12,14}(?![\d])/g)) add(m.index!, m[0], [12, 13, 14]);
  for (const re of [DASHED, SPACED]) for (const m of text.matchAll(re)) add(m.index!, m[0], [12, 13]);
  for (const m of text.matchAll(LABELLED_EAN8)) add(m.index! + m[0].length - m[1]!.length, m[1]!, [8]);
  return found.sort((a, b) => a.at - b.at).map((f) => f.code);
}
