/**
 * Brand post-processing with a lexicon of the brands seen in training (`brands.json` beside an
 * extractor model). The tagger finds brands it never saw (it reads context), but cuts known
 * multi-word brands short ("Just" for "Just Mobile") or tags a letter inside one; the lexicon
 * repairs those, and fills in a known brand the tagger missed. An unknown brand the tagger
 * found is kept.
 */

export interface BrandLexicon {
  /** Folded brand (letters and digits, lower-case) → number of training titles that had it. */
  counts: ReadonlyMap<string, number>;
  /** The same brands as a character trie, so a scan follows one path per start instead of trying every length. */
  trie: FlatTrie;
}

/**
 * A trie over the 36 symbols `fold` keeps, as flat arrays: node n's child for symbol s is
 * `next[n * 36 + s]` (0: none; the root is node 0 and never a child). One array read per
 * character instead of a Map lookup and two objects per node.
 */
interface FlatTrie {
  next: Int32Array;
  /** 1 where a brand ends. */
  brand: Uint8Array;
}

const SYMBOLS = 36;

/** Symbol of a char code: 0-9 for digits, 10-35 for letters of either case; -1 for anything else. */
function symbolOf(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 122) return c - 87;
  if (c >= 65 && c <= 90) return c - 55;
  return -1;
}

export interface BrandLexiconFile {
  /** Folded brand → count, sorted by brand. */
  brands: Record<string, number>;
}

export const fold = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]/g, '');

export function brandLexicon(file: BrandLexiconFile, minCount = 1): BrandLexicon {
  // Keys are folded already; a key that is not (a hand-edited file) could never match, and holds a symbol the trie lacks.
  const counts = new Map(Object.entries(file.brands).filter(([b, n]) => b !== '' && b === fold(b) && n >= minCount));
  let size = 1;
  for (const b of counts.keys()) size += b.length;
  const next = new Int32Array(size * SYMBOLS);
  const brand = new Uint8Array(size);
  let nodes = 1;
  for (const b of counts.keys()) {
    let node = 0;
    for (let i = 0; i < b.length; i++) {
      const at = node * SYMBOLS + symbolOf(b.charCodeAt(i));
      if (next[at] === 0) next[at] = nodes++;
      node = next[at]!;
    }
    brand[node] = 1;
  }
  return { counts, trie: { next: next.slice(0, nodes * SYMBOLS), brand: brand.slice(0, nodes) } };
}

export interface BrandSpan {
  start: number;
  end: number;
  text: string;
}

/**
 * Lexicon brands in `text`, on letter/digit-run boundaries (folded comparison, so "Dri-Mark"
 * matches "drimark"), longest first at each start, in text order.
 */
export function findBrands(lex: BrandLexicon, text: string): BrandSpan[] {
  const { next, brand } = lex.trie;
  const out: BrandSpan[] = [];
  for (let start = 0; start < text.length; start++) {
    // Only at a run start.
    if (symbolOf(text.charCodeAt(start)) < 0 || (start > 0 && symbolOf(text.charCodeAt(start - 1)) >= 0)) continue;
    // The longest lexicon brand from here that ends at a run end (two characters at least),
    // skipping the characters `fold` drops.
    let end = -1;
    let node = 0;
    for (let i = start; i < text.length; i++) {
      const s = symbolOf(text.charCodeAt(i));
      if (s < 0) continue;
      node = next[node * SYMBOLS + s]!;
      if (node === 0) break;
      if (brand[node] === 0 || i === start) continue;
      if (i + 1 >= text.length || symbolOf(text.charCodeAt(i + 1)) < 0) end = i + 1;
    }
    if (end >= 0) out.push({ start, end, text: text.slice(start, end) });
  }
  return out;
}

export interface BrandRuleOptions {
  /**
   * A missed brand is filled in only from the first this-many words of the title. Further in, a
   * lexicon brand is mostly an ordinary word of the title ("… 14.1MP Digital Camera", "SIRIUS SADV2
   * Universal Dock"): at 2 rather than 3, on train and dev titles 60 wrong brands go and 5 right ones
   * ("Original Foxconn Dell …") are lost; on those titles with their brand removed, brands given
   * fall from 2,899 to 2,547 of 13,988. @defaultValue 2
   */
  fillWithinWords: number;
  /** A brand that begins the title's first word ("Fuji" of "Fujifilm") has at least this many letters and digits. @defaultValue 4 */
  prefixMinLength: number;
  /** ... and was seen in at least this many training titles. @defaultValue 5 */
  prefixMinCount: number;
}

export const BRAND_RULE_DEFAULTS: BrandRuleOptions = { fillWithinWords: 2, prefixMinLength: 4, prefixMinCount: 5 };

/** A barcode or its label ("UPC", "EAN13:", "(012345678905)"): not a word of the product's name. */
const BARCODE_WORD = /^\(?(?:\d{8,14}|(?:upc(?:-a)?|ean(?:-?13)?|gtin(?:-?1[234])?|isbn(?:-?1[03])?|barcode):?)\)?$/i;

/** How many words of the name come before `at` (a leading barcode does not count). */
const wordIndex = (text: string, at: number): number =>
  text
    .slice(0, at)
    .split(/\s+/)
    .filter((w) => w !== '' && !BARCODE_WORD.test(w)).length;

/**
 * The longest lexicon brand that begins the title's first word without being all of it: "Fuji"
 * of "Fujifilm FinePix …" (the training titles name Fujifilm's products "Fuji"; neither the
 * tagger nor a whole-word match finds it), "Apple" of "AppleCare". Short or rare brands are left
 * out (`prefixMinLength`, `prefixMinCount`): a first word begins with one by chance.
 */
export function brandPrefix(lex: BrandLexicon, text: string, o: BrandRuleOptions = BRAND_RULE_DEFAULTS): BrandSpan | null {
  const { next, brand } = lex.trie;
  const start = text.search(/\S/);
  if (start < 0) return null;
  let end = -1;
  let node = 0;
  let length = 0;
  for (let i = start; i < text.length && !/\s/.test(text.charAt(i)); i++) {
    const s = symbolOf(text.charCodeAt(i));
    if (s < 0) continue;
    node = next[node * SYMBOLS + s]!;
    if (node === 0) break;
    length++;
    if (brand[node] === 1 && length >= o.prefixMinLength) end = i + 1;
  }
  // The brand must end inside the word, before a letter or digit of it.
  if (end < 0 || end >= text.length || symbolOf(text.charCodeAt(end)) < 0) return null;
  const span = { start, end, text: text.slice(start, end) };
  return (lex.counts.get(fold(span.text)) ?? 0) >= o.prefixMinCount ? span : null;
}

/**
 * The brand to report, given the tagger's (or none): a lexicon brand that overlaps the tagger's
 * span and is longer wins (it completes a cut-short or letter-only tag); a tagger brand that is
 * itself in the lexicon, or overlaps none, stands; with no tagger brand, the first lexicon brand
 * within the first `fillWithinWords` words, else one that begins the first word (`brandPrefix`).
 */
export function resolveBrand(lex: BrandLexicon, text: string, tagged: BrandSpan | null, o: BrandRuleOptions = BRAND_RULE_DEFAULTS): BrandSpan | null {
  const found = findBrands(lex, text);
  if (tagged !== null) {
    const overlapping = found.filter((b) => b.start < tagged.end && tagged.start < b.end && fold(b.text).length > fold(tagged.text).length);
    if (lex.counts.has(fold(tagged.text)) && !overlapping.some((b) => b.start === tagged.start)) return tagged;
    return overlapping.sort((a, b) => fold(b.text).length - fold(a.text).length || a.start - b.start)[0] ?? tagged;
  }
  return found.find((b) => wordIndex(text, b.start) < o.fillWithinWords) ?? brandPrefix(lex, text, o);
}
