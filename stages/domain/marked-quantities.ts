/**
 * Sizes and lengths written with inch or foot marks: `65"`, `70″` (what the text cleaner's NFKC
 * makes `70′′`), `6'`. The taggers seldom tag them (the shipped ones gave nothing for "LG 65\" Class
 * 4K OLED TV" or "Belkin 6' HDMI Cable"), so they are taken by rule where the tagger found none of
 * that attribute (or only text that did not parse): inch marks give a `size`, foot marks a
 * `length`, each only from a model that tags that attribute. What the model reads is unchanged.
 *
 * Lengths written out in feet or metres that the tagger left ("6ft", "25ft", "1.0m" glued to their
 * number) are taken the same way: over the accessories titles of train and dev without a length
 * from the shipped tagger, the rule gave 10 lengths, each one the labeller's (4 in train, 6 in
 * dev), and none where it found none. A bare "m" needs a decimal: "3M" is a brand, "ID-61M" a model.
 */
import { parseQuantity, type Quantity } from './units.js';

const MARKS: Readonly<Record<string, RegExp>> = {
  size: /(?<![\w.,])\d{1,3}(?:\.\d+)?\s?(?:″|′′|''|")(?![\w"″′'])/u,
  length: /(?<![\w.,])\d{1,3}(?:\.\d+)?\s?(?:′|')(?![\w"″′'])|(?<![\w.])\d+(?:\.\d+)?\s?-?\s?(?:ft|feet|foot|meters?|metres?)\b\.?|(?<![\w.])\d+\.\d+\s?m\b/iu,
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
