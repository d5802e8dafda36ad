/**
 * Attribute spans that measure something other than the product. The computing extractor tags
 * every number with a storage unit as CAPACITY (its weak labels did), so a hard drive's
 * "64 MB Cache" and its "SATA 3 Gb s" (3 Gb/s, the titles lost the slash) compete with its
 * "1 TB". Over the train and dev titles this changes the capacity of 37: 30 now give the
 * product's (the drive's 1 TB, not its 64 MB cache), 5 enclosures and motherboards ("SATA 6Gb s")
 * give none, and 2 keep a fragment the tagger cut ("1" of "1.5TB"), which stays text only.
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

/** Entities minus CAPACITY spans that name a cache, a buffer or a transfer rate (the fields skip them; the entities stay). */
export function productAttributes(text: string, entities: readonly Entity[]): Entity[] {
  return entities.filter((e) => e.type !== 'CAPACITY' || !ONE_QUANTITY.test(e.text) || !NOT_THE_PRODUCT.test(text.slice(e.end)));
}

/** Identifier types: every other entity type is an attribute. */
const IDENTIFIERS = new Set(['BRAND', 'MPN', 'GTIN']);

/** Entities minus attribute spans that are the product's `brand` (the same entities when there is none). */
export function withoutBrandSpans(entities: readonly Entity[], brand: unknown): readonly Entity[] {
  if (typeof brand !== 'string' || fold(brand) === '') return entities;
  const b = fold(brand);
  const kept = entities.filter((e) => IDENTIFIERS.has(e.type) || fold(e.text) !== b);
  return kept.length === entities.length ? entities : kept;
}
