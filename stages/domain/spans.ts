import type { Entity } from '../../lib/models/bio.js';
import { checkGtin } from './gtin.js';
import { UNIT_WORDS } from './units.js';
import { joinRanges } from './quantity-ranges.js';

/** Punctuation that can sit around an identifier without being part of it. */
const EDGE = /[\s,;:()[\]{}"'!?]/;

/**
 * Grow a span to whole whitespace-delimited words, then drop surrounding punctuation. Part
 * numbers are whole words ("IU3.5RC", "93730"); a tagger working on WordPiece pieces can stop
 * inside one ("IU3", "730").
 */
export function snapToWords(text: string, e: Entity): Entity {
  let start = e.start;
  let end = e.end;
  while (start > 0 && !/\s/.test(text[start - 1]!)) start--;
  while (end < text.length && !/\s/.test(text[end]!)) end++;
  while (start < end && EDGE.test(text[start]!)) start++;
  while (end > start && (EDGE.test(text[end - 1]!) || (text[end - 1] === '.' && end === text.length))) end--;
  return start === e.start && end === e.end ? e : { ...e, start, end, text: text.slice(start, end) };
}

const ALNUM = /[\p{L}\p{N}]/u;

/**
 * Grow a brand span to the whole run of letters and digits it cuts into ("CoolM" → "CoolMax",
 * "x" → "CoolMax"), but not across punctuation: "StarTech" in "StarTech.com" and "Cisco" in
 * "Cisco-Linksys" are the brand as labelled.
 */
export function snapToAlnum(text: string, e: Entity): Entity {
  let start = e.start;
  let end = e.end;
  while (start > 0 && ALNUM.test(text[start - 1]!) && ALNUM.test(text[start]!)) start--;
  while (end < text.length && ALNUM.test(text[end]!) && ALNUM.test(text[end - 1]!)) end++;
  return start === e.start && end === e.end ? e : { ...e, start, end, text: text.slice(start, end) };
}

/**
 * A GTIN is digits (spaces or dashes between groups allowed, "0 36000 29145 2"): split a tagged
 * span into the 8/12/13/14-digit runs inside it, so "886065792964 Inches" or "602956008569,
 * 744761572610" give the codes themselves. A spaced run is also tried group by group, so a code
 * next to another number ("857864847308 3DTV") is not glued to it. Valid check digits first,
 * then runs without separators. A spaced run glued to a letter is not a code.
 */
export function snapGtin(text: string, e: Entity): Entity[] {
  const found = new Map<string, Entity>();
  const from = Math.max(0, e.start - 20);
  const window = text.slice(from, Math.min(text.length, e.end + 20));
  const consider = (start: number, raw: string) => {
    const end = start + raw.length;
    if (end <= e.start || start >= e.end) return; // must overlap the tagged span
    if (![8, 12, 13, 14].includes(raw.replace(/[ -]/g, '').length)) return;
    found.set(`${start}:${end}`, { ...e, start, end, text: raw });
  };
  // A run of several groups must not touch a letter at either end: the "8727" of "C8727" belongs
  // to a model number, so "C8727 8727" is no code (it gave 87278727).
  const glued = (start: number, end: number) => /\p{L}/u.test(text.charAt(start - 1)) || /\p{L}/u.test(text.charAt(end));
  for (const run of window.matchAll(/\d(?:[\d -]*\d)?/g)) {
    const spaced = /[ -]/.test(run[0]);
    if (!spaced || !glued(from + run.index!, from + run.index! + run[0].length)) consider(from + run.index!, run[0]);
    if (spaced) for (const g of run[0].matchAll(/\d+/g)) consider(from + run.index! + g.index!, g[0]);
  }
  const rank = (x: Entity) => (checkGtin(x.text).valid ? 0 : 2) + (/[ -]/.test(x.text) ? 1 : 0);
  return [...found.values()].sort((a, b) => rank(a) - rank(b) || a.start - b.start);
}

/** The thousands before a group of three digits: "1 " of "1 000", "12,345," of "12,345,678". */
const THOUSANDS_BEFORE = /(?:^|[\s(])(\d{1,3}[, ](?:\d{3}[, ])*)$/;
const NUMBER_BEFORE = /(?:^|[\s(])(\d+(?:\.\d+)?[ -]?)$/;
/** A unit word of units.ts right after a number ("190mm", "40 GB"), longest first. */
const UNIT_AFTER = new RegExp(`^[ -]?(?:${[...UNIT_WORDS].sort((a, b) => b.length - a.length).join('|')})\\b`, 'i');

/**
 * Grow an attribute span that holds only its unit or only its number to the other half, when it
 * sits right beside it: "Inch" of "48-Inch", "ft" of "1.5ft", "190" of "190mm", "40" of "40 GB",
 * "44" of "1.44MB", "23" of "23.6-Inch" (titles from the data; units.ts could not parse the
 * halves); and a span cut inside one glued number-and-unit word to that word: "B" of "2.0TB", "t"
 * of "1000ft", "800G" of "800GB", "5M" of "0.5M". Conservative where a title reads otherwise:
 * one-letter units are not taken from a span without its number ("2 M Pull Drawers", "630M"), nor
 * a unit that starts a compound ("In-Dash", "7-in-One") or a number inside a code ("KDC-148 In", "-14M").
 * A span that starts at a group of three digits after a thousands separator takes the groups
 * before it: "000 FT" of "1 000 FT", "000ft" of "1,000ft".
 */
export function snapQuantity(text: string, e: Entity): Entity {
  let { start, end } = e;
  if (/^\d+(?:\.\d+)?$/.test(e.text)) {
    // The whole number first: "44" of "1.44MB", "23" of "23.6-Inch".
    while (start > 0 && (/\d/.test(text.charAt(start - 1)) || (text.charAt(start - 1) === '.' && /\d/.test(text.charAt(start - 2))))) start--;
    if (!e.text.includes('.')) end += /^\.\d+/.exec(text.slice(end))?.[0].length ?? 0;
    const m = UNIT_AFTER.exec(text.slice(end, end + 8));
    if (m && !/^-\p{L}/u.test(text.slice(end + m[0].length))) end += m[0].length;
  } else if (UNIT_WORDS.has(e.text.toLowerCase()) && !/^-\p{L}/u.test(text.slice(end))) {
    const m = NUMBER_BEFORE.exec(text.slice(Math.max(0, start - 12), start));
    if (m) start -= m[1]!.length;
  } else {
    ({ start, end } = gluedQuantity(text, e));
  }
  if (/^\d{3}(?!\d)/.test(text.slice(start, end))) start -= THOUSANDS_BEFORE.exec(text.slice(Math.max(0, start - 16), start))?.[1]?.length ?? 0;
  return start === e.start && end === e.end ? e : { ...e, start, end, text: text.slice(start, end) };
}

const GLUED_QUANTITY = /^\d+(?:\.\d+)?([a-z]+)$/i;

/** The glued number-and-unit word ("2.0TB", "1000ft") a span was cut inside, or the span itself. */
function gluedQuantity(text: string, e: Entity): { start: number; end: number } {
  let start = e.start;
  let end = e.end;
  const inWord = (i: number) =>
    /[\p{L}\p{N}]/u.test(text.charAt(i)) || (text.charAt(i) === '.' && /\d/.test(text.charAt(i - 1)) && /\d/.test(text.charAt(i + 1)));
  while (start > 0 && inWord(start - 1)) start--;
  while (end < text.length && inWord(end)) end++;
  const unit = GLUED_QUANTITY.exec(text.slice(start, end))?.[1]?.toLowerCase();
  const known = unit !== undefined && (UNIT_WORDS.has(unit) || (unit === 'm' && /\d/.test(e.text)));
  const inCode = /[\p{L}\p{N}]-$/u.test(text.slice(Math.max(0, start - 2), start)) || /^-\p{L}/u.test(text.slice(end));
  return known && !inCode ? { start, end } : e;
}

/** Apply the shape rules per entity type; other types (attributes) get snapQuantity. */
export function snapEntities(text: string, entities: readonly Entity[]): Entity[] {
  const snapped = entities.flatMap((e) =>
    e.type === 'MPN' ? [snapToWords(text, e)] : e.type === 'BRAND' ? [snapToAlnum(text, e)] : e.type === 'GTIN' ? snapGtin(text, e) : [snapQuantity(text, e)],
  );
  return joinRanges(text, mergeSameSpans(snapped));
}

/**
 * Pieces of one word tagged apart ("CoolM" + "x" of "CoolMax") snap to the same span: keep it
 * once, with the best score, where the first piece was.
 */
function mergeSameSpans(entities: readonly Entity[]): Entity[] {
  const out: Entity[] = [];
  const at = new Map<string, number>();
  for (const e of entities) {
    const key = `${e.type}:${e.start}:${e.end}`;
    const i = at.get(key);
    if (i === undefined) {
      at.set(key, out.length);
      out.push(e);
    } else if (e.score > out[i]!.score) out[i] = { ...out[i]!, score: e.score };
  }
  return out;
}
