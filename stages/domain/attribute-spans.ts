/**
 * Attribute spans that measure something other than the product. The computing extractor tags
 * every number with a storage unit as CAPACITY (its weak labels did), so a hard drive's
 * "64 MB Cache" and its "SATA 3 Gb s" (3 Gb/s, the titles lost the slash) compete with its
 * "1 TB". Over the train and dev titles this changes the capacity of 37: 30 now give the
 * product's (the drive's 1 TB, not its 64 MB cache), 5 enclosures and motherboards ("SATA 6Gb s")
 * give none, and 2 keep a fragment the tagger cut ("1" of "1.5TB"), which stays text only.
 * Likewise a memory kit's or a disk array's module: "Corsair … 6 GB 3 x 2 GB" is a 6 GB kit.
 *
 * A quantity that reads as the product's brand is the brand: "3M" in "3M Privacy Filter - 3M
 * PF24.0W9" is no 3-metre length (the electronics tagger gave 21 such in train and dev titles,
 * all 3M's own products), while the "3m" of "Accell … HDMI Cable 3m" stays a length.
 */
import type { Entity } from '../../lib/models/bio.js';
import { fold } from './brands.js';

/** What follows a capacity that belongs to a part or a rate: "Cache", "Buffer", "s" / "/s" / "ps" as a word of its own ("8 GB S-Professional" is not a rate). */
const NOT_THE_PRODUCT = /^\s*(?:cache\b|buffer\b|(?:\/\s*s|s|ps)(?=$|[\s,;)]))/i;

/** One number and its unit: a span the tagger ran over two quantities ("16GB 60MB") is left alone. */
const ONE_QUANTITY = /^\d+(?:\.\d+)?\s?-?\s?[a-z]+$/i;

/**
 * A count of two or more before a capacity, after another capacity ("6 GB 3 x 2 GB", "8GB 2x
 * 4GB"), or right after it ("4GB X 2 8GB Kit", "1GBx2"): one module or disk of a kit or an array.
 * Not "1 x 160 GB" (one disk), not a disc's speed ("8x 4.7GB": no capacity before it).
 */
const COUNT_BEFORE = /(?:^|\s)(?:[2-9]|\d{2,})\s?x\s?$/i;
const COUNT_AFTER = /^\s?x\s?(?:[2-9]|\d{2,})\b/i;

/**
 * Entities minus CAPACITY spans that name a cache, a buffer or a transfer rate, and, when the
 * title also gives a total, those of one part of a kit ("6 GB 3 x 2 GB": the kit's 6 GB). The
 * fields skip them; the entities stay.
 */
export function productAttributes(text: string, entities: readonly Entity[]): Entity[] {
  const whole = entities.filter((e) => e.type !== 'CAPACITY' || !ONE_QUANTITY.test(e.text) || !NOT_THE_PRODUCT.test(text.slice(e.end)));
  const capacities = whole.filter((e) => e.type === 'CAPACITY' && ONE_QUANTITY.test(e.text));
  const part = (e: Entity) =>
    e.type === 'CAPACITY' &&
    ((COUNT_BEFORE.test(text.slice(Math.max(0, e.start - 8), e.start)) && capacities.some((c) => c.end <= e.start)) || COUNT_AFTER.test(text.slice(e.end)));
  if (!capacities.some((e) => !part(e))) return whole;
  return whole.filter((e) => !part(e));
}

/** Identifier entity types and the fields they become; every other entity type is an attribute. */
export const IDENTIFIER_FIELDS: Readonly<Record<string, string>> = { BRAND: 'brand', MPN: 'mpn', GTIN: 'gtin' };
export const IDENTIFIER_TYPES: ReadonlySet<string> = new Set(Object.keys(IDENTIFIER_FIELDS));

/** Entities minus attribute spans that are the product's `brand` (the same entities when there is none). */
export function withoutBrandSpans(entities: readonly Entity[], brand: unknown): readonly Entity[] {
  if (typeof brand !== 'string' || fold(brand) === '') return entities;
  const b = fold(brand);
  const kept = entities.filter((e) => IDENTIFIER_TYPES.has(e.type) || fold(e.text) !== b);
  return kept.length === entities.length ? entities : kept;
}
