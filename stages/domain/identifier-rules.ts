/**
 * Post-processing of the extractor's brand and model number (extract stage settings):
 *
 * - `brandLexicon` (default true): with `brands.json` in the model folder (written by the model
 *   builder from the training brands), complete or fill in brands (see brands.ts); brands seen
 *   fewer than `brandMinCount` times (default 2) are not used. A tagged brand loses a listing's
 *   "New-" before it; one the lexicon does not know loses out when it is a quantity or a code,
 *   and loses a last word that runs on into a code.
 * - `mpnShapeRule` (default true): a tagged model number that cannot be one gives way to another
 *   code the tagger marked (mpn-tagged.ts); drop one that is a specification, a stray word or a
 *   lone colour code; when there is none, take the first model-number-shaped word among the 3
 *   after the brand, else one before the brand, else the title's last word if it has that shape
 *   (see mpn-shape.ts).
 * - `mpnTidy` (default true): cut a tagged model number that runs on into the next words, into a
 *   number the title goes on to measure or into how it is sold ("-Bare") to its code, and drop
 *   leading zeros of an all-digit one (see mpn-tidy.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Entity } from '../../lib/models/bio.js';
import { ConfigError } from '../../lib/core/errors.js';
import { brandLexicon, fold, resolveBrand, type BrandLexicon, type BrandLexiconFile } from './brands.js';
import { findMpnByShape, isColourCode, isQuantity, isSpecification, isStrayWord, looksLikeMpn } from './mpn-shape.js';
import { tidyMpn } from './mpn-tidy.js';
import { codeOverImplausible } from './mpn-tagged.js';

export const BRANDS_FILE = 'brands.json';

const NEW_PREFIX = /^new-(?=[a-z0-9])/i;

/**
 * `span` without its last word when that word runs on, with no space, into a model number
 * ("DIR" + "-655"); null when nothing is left; `span` itself otherwise.
 */
function withoutCodeHead<S extends { start: number; end: number; text: string }>(text: string, span: S): S | null {
  const rest = /^[^\s]*/.exec(text.slice(span.end))![0];
  const head = span.start + span.text.search(/\S+$/);
  if (rest === '' || !looksLikeMpn(text.slice(head, span.end) + rest)) return span;
  const kept = text.slice(span.start, head).trimEnd();
  return kept === '' ? null : { ...span, end: span.start + kept.length, text: kept };
}

/** A quantity, or one word with a model number's shape. */
const isNotBrand = (text: string): boolean => isQuantity(text.replace(/\s+/g, '')) || (!/\s/.test(text) && looksLikeMpn(text));

export interface IdentifierRules {
  lexicon: BrandLexicon | null;
  mpnShape: boolean;
  mpnTidy: boolean;
}

/** The extract stage's identifier settings with their defaults; `where` names the settings in errors (also checked when the config loads). */
export function identifierRuleSettings(
  where: string,
  settings: Readonly<Record<string, unknown>>,
): { brandLexicon: boolean; brandMinCount: number; mpnShape: boolean; mpnTidy: boolean } {
  const flag = (k: string, d: boolean): boolean => {
    const v = settings[k];
    if (v === undefined) return d;
    if (typeof v !== 'boolean') throw new ConfigError(`${where}.${k}`, `expected true or false, got ${JSON.stringify(v)}`);
    return v;
  };
  const minCount = settings.brandMinCount ?? 2;
  if (typeof minCount !== 'number' || !Number.isInteger(minCount) || minCount < 1)
    throw new ConfigError(`${where}.brandMinCount`, `expected a positive integer, got ${JSON.stringify(minCount)}`);
  return { brandLexicon: flag('brandLexicon', true), brandMinCount: minCount, mpnShape: flag('mpnShapeRule', true), mpnTidy: flag('mpnTidy', true) };
}

export function identifierRules(where: string, settings: Record<string, unknown>, modelDir: string): IdentifierRules {
  const s = identifierRuleSettings(where, settings);
  const path = join(modelDir, BRANDS_FILE);
  const lexicon = s.brandLexicon && existsSync(path) ? brandLexicon(JSON.parse(readFileSync(path, 'utf8')) as BrandLexiconFile, s.brandMinCount) : null;
  return { lexicon, mpnShape: s.mpnShape, mpnTidy: s.mpnTidy };
}

/** Applies the rules to the fields from the entities; marks what a rule changed (`brandSource`, `mpnSource`: next-span, shape, tidied). */
export function applyIdentifierRules(rules: IdentifierRules, text: string, entities: readonly Entity[], fields: Record<string, unknown>): void {
  let brandEnd: number | null = null;
  let tagged = entities.filter((e) => e.type === 'BRAND').sort((a, b) => b.score - a.score)[0];
  if (tagged !== undefined) brandEnd = tagged.end;
  if (rules.lexicon !== null) {
    // A tagged "brand" that is a quantity ("10FT", "4400mAh", "2TB") or has a model number's shape
    // ("V470", "25NW": the first word of a title without its brand) is not one, unless the lexicon
    // knows it ("3M", "V7"). In train and dev titles the shipped taggers give 16 quantities, none
    // right, and 29 codes, 1 right ("Agent18", seen once); on those titles with their brand removed,
    // about 500 codes (brands given 3,394 → 2,899 of 13,988; 63 of the codes then become the
    // labelled model number).
    // A brand whose last word is glued to the rest of a code ("DIR" of "DIR-655", "MAS" of
    // "MAS-WA-SYS", "Ultrasone HFI" of "Ultrasone HFI-780") loses that word: it is the code's
    // head. In train and dev titles 6 tagged brands change (1 right lost: "AAS" of "AAS-V700", 2
    // become the labelled brand); on those titles with their brand removed, about 200 codes stop
    // being brands and 48 become the labelled model number.
    if (tagged !== undefined && !rules.lexicon.counts.has(fold(tagged.text))) {
      const cut = isNotBrand(tagged.text) ? null : withoutCodeHead(text, tagged);
      if (cut === null) {
        tagged = undefined;
        brandEnd = null;
        delete fields.brand;
      } else if (cut !== tagged) {
        tagged = cut;
        brandEnd = cut.end;
        Object.assign(fields, { brand: cut.text, brandSource: 'tidied' });
      }
    }
    // "New-Domtar 2468 - …": a listing's "New-" joined to the brand is not part of it (the shipped
    // taggers give 22 such brands in train and dev titles, each right without it; "New Trent" stays).
    if (tagged !== undefined && NEW_PREFIX.test(tagged.text)) {
      tagged = { ...tagged, start: tagged.start + 4, text: tagged.text.slice(4) };
      Object.assign(fields, { brand: tagged.text, brandSource: 'tidied' });
    }
    const span = tagged ? { start: tagged.start, end: tagged.end, text: tagged.text } : null;
    const resolved = resolveBrand(rules.lexicon, text, span);
    if (resolved !== null && (span === null || resolved.start !== span.start || resolved.end !== span.end)) {
      Object.assign(fields, { brand: resolved.text, brandSource: 'lexicon' });
    }
    if (resolved !== null) brandEnd = resolved.end;
  }
  // A tagged model number that cannot be one ("BK", "SNMP", "4") gives way to a code the tagger
  // also marked (mpn-tagged.ts).
  if (rules.mpnShape && typeof fields.mpn === 'string') {
    const code = codeOverImplausible(fields.mpn, entities);
    if (code !== null) Object.assign(fields, { mpn: code, mpnSource: 'next-span' });
  }
  // A tagged model number that is a specification (a range such as a lens's "18-55mm", a
  // dimension, a standard such as "802.11n", a count such as "4-Channel"; mpn-shape.ts) is
  // dropped: none of those the shipped taggers give on train and dev titles is right. So is a
  // plain word ("Argento", "Everio") other than a model's name right after the brand in a title
  // without a code (`isStrayWord`), and a colour code ("BK") left when the tagger marked no other
  // code. The shape rule may find the real one. So is a span that, tidied, starts with a
  // specification: one run on ("70′′ LED"; tidied first, so the code of "FW800 - DRDR4A21" stays).
  if (
    rules.mpnShape &&
    typeof fields.mpn === 'string' &&
    (isSpecification(fields.mpn) ||
      isSpecification(tidyMpn(fields.mpn).split(/\s+/)[0]!) ||
      isStrayWord(text, fields.mpn, brandEnd) ||
      isColourCode(fields.mpn))
  )
    delete fields.mpn;
  if (rules.mpnShape && fields.mpn === undefined) {
    const w = findMpnByShape(text, brandEnd);
    const gtin = typeof fields.gtin === 'string' ? fields.gtin : '';
    if (w !== null && (gtin === '' || !gtin.includes(w.text))) Object.assign(fields, { mpn: w.text, mpnSource: 'shape' });
  }
  if (rules.mpnTidy && typeof fields.mpn === 'string') {
    const at = text.indexOf(fields.mpn);
    const tidy = tidyMpn(fields.mpn, at < 0 ? '' : text.slice(at + fields.mpn.length));
    if (tidy !== fields.mpn) Object.assign(fields, { mpn: tidy, mpnSource: fields.mpnSource ?? 'tidied' });
  }
}
