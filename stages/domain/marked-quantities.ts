/**
 * Sizes and lengths written with inch or foot marks: `65"`, `70″` (what the text cleaner's NFKC
 * makes `70′′`), `6'`. The taggers seldom tag them (the shipped ones gave nothing for "LG 65\" Class
 * 4K OLED TV" or "Belkin 6' HDMI Cable"), so they are taken by rule where the tagger found none of
 * that attribute (or only text that did not parse): inch marks give a `size`, foot marks a
 * `length`, each only from a model that tags that attribute. What the model reads is unchanged.
 */
import { parseQuantity, type Quantity } from './units.js';

const MARKS: Readonly<Record<string, RegExp>> = {
  size: /(?<![\w.,])\d{1,3}(?:\.\d+)?\s?(?:″|′′|''|")(?![\w"″′'])/u,
  length: /(?<![\w.,])\d{1,3}(?:\.\d+)?\s?(?:′|')(?![\w"″′'])/u,
};

/** A quantity with a value, as units.ts gives it (not `{ text }` alone). */
const hasValue = (v: unknown): boolean => v !== null && typeof v === 'object' && 'value' in v;

/**
 * The first marked quantity in `text` of each attribute in `attributes` (what the model tags:
 * `size`, `length`) that `found` lacks, parsed by units.ts.
 */
export function markedQuantities(text: string, attributes: readonly string[], found: Readonly<Record<string, unknown>> = {}): Record<string, Quantity> {
  const out: Record<string, Quantity> = {};
  for (const name of attributes) {
    const re = MARKS[name];
    if (re === undefined || hasValue(found[name])) continue;
    const m = re.exec(text);
    const q = m === null ? null : parseQuantity(name, m[0]);
    if (q !== null) out[name] = q;
  }
  return out;
}
