/** GTIN-8/12/13/14 (EAN-8, UPC-A, EAN-13, GTIN-14): mod-10 check digit, weights 3/1 from the right. */

export type GtinType = 'GTIN-8' | 'GTIN-12' | 'GTIN-13' | 'GTIN-14';
const TYPES: Record<number, GtinType> = { 8: 'GTIN-8', 12: 'GTIN-12', 13: 'GTIN-13', 14: 'GTIN-14' };

export interface GtinCheck {
  /** Digits only, as given (no padding). */
  value: string;
  type?: GtinType;
  valid: boolean;
  /** Why it is invalid. */
  reason?: 'length' | 'non_digit' | 'check_digit';
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
  const ok = gtinCheckDigit(value.slice(0, -1)) === value.charCodeAt(value.length - 1) - 48;
  return ok ? { value, type, valid: true } : { value, type, valid: false, reason: 'check_digit' };
}

/** 12–14 digit runs in free text that carry a valid check digit (candidate barcodes). */
export function findGtins(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?<![\d])\d{12,14}(?![\d])/g)) if (checkGtin(m[0]).valid) out.push(m[0]);
  return out;
}
