/**
 * GTIN augmentation. The data has no barcodes, so a share of training titles get a
 * generated GTIN-12/13/14 inserted in a realistic form ("UPC 012345678905",
 * "EAN: 4006381333931", "GTIN 00012345678905", bare digits). Some codes get a wrong
 * check digit on purpose and are still tagged GTIN: the tagger learns the shape and
 * context of a barcode, and extract() drops spans whose check digit is wrong
 * (a convolution cannot do mod-10 arithmetic reliably, plain code can).
 */
import { gtinCheckDigit } from '../stages/domain/gtin.js';
import type { Prng } from './prng.js';
import type { Span } from './labels.js';

const EAN_PREFIXES = [
  '400',
  '401',
  '419',
  '500',
  '503',
  '690',
  '692',
  '693',
  '761',
  '789',
  '800',
  '840',
  '871',
  '880',
  '890',
  '930',
  '450',
  '490',
  '540',
  '590',
];

function digits(rng: Prng, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += String(rng.int(10));
  return s;
}

/** A GTIN of the given length (12, 13 or 14), with a wrong check digit if `valid` is false. */
function makeGtin(rng: Prng, length: 12 | 13 | 14, valid: boolean): string {
  let body: string;
  if (length === 12) body = rng.pick(['0', '0', '0', '6', '7', '8']) + digits(rng, 10);
  else if (length === 13) body = rng.pick(EAN_PREFIXES) + digits(rng, 9);
  else body = rng.pick(['000', '100', '001', '200']) + digits(rng, 10);
  const check = gtinCheckDigit(body);
  return body + String(valid ? check : (check + 1 + rng.int(9)) % 10);
}

type Form = { length: 12 | 13 | 14; before: string; after?: string };
const FORMS: readonly Form[] = [
  { length: 12, before: 'UPC ' },
  { length: 12, before: 'UPC: ' },
  { length: 12, before: 'UPC-A ' },
  { length: 12, before: '' },
  { length: 12, before: '(UPC ', after: ')' },
  { length: 13, before: 'EAN ' },
  { length: 13, before: 'EAN: ' },
  { length: 13, before: 'EAN-13 ' },
  { length: 13, before: '' },
  { length: 13, before: 'EAN13: ' },
  { length: 14, before: 'GTIN ' },
  { length: 14, before: 'GTIN-14: ' },
  { length: 14, before: '' },
  { length: 12, before: 'GTIN: ' },
  { length: 13, before: 'Barcode ' },
];

export interface Augmented {
  title: string;
  gtin: Span;
  code: string;
}

/** Inserts a GTIN into `title`: mostly at the end, sometimes at the start or between words. */
export function insertGtin(title: string, rng: Prng, valid: boolean): Augmented {
  const form = rng.pick(FORMS);
  const code = makeGtin(rng, form.length, valid);
  const phrase = `${form.before}${code}${form.after ?? ''}`;
  const spaces = [...title.matchAll(/ /g)].map((m) => m.index ?? 0);
  const r = rng.next();
  let at: number;
  let sep: string;
  if (r < 0.6 || spaces.length === 0) {
    at = title.length;
    sep = rng.pick([' ', ' ', ' - ', ', ']);
  } else if (r < 0.7) {
    at = 0;
    sep = '';
  } else {
    at = rng.pick(spaces);
    sep = ' ';
  }
  const insert = at === 0 ? `${phrase} ` : `${sep}${phrase}`;
  const out = title.slice(0, at) + insert + title.slice(at);
  const codeStart = at + (at === 0 ? 0 : sep.length) + form.before.length;
  return { title: out, gtin: { type: 'GTIN', start: codeStart, end: codeStart + code.length }, code };
}
