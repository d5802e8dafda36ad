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
  trie: TrieNode;
}

interface TrieNode {
  next: Map<number, TrieNode>;
  /** A brand ends here. */
  brand: boolean;
}

export interface BrandLexiconFile {
  /** Folded brand → count, sorted by brand. */
  brands: Record<string, number>;
}

export const fold = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]/g, '');

export function brandLexicon(file: BrandLexiconFile, minCount = 1): BrandLexicon {
  const counts = new Map(Object.entries(file.brands).filter(([b, n]) => b !== '' && n >= minCount));
  const trie: TrieNode = { next: new Map(), brand: false };
  for (const b of counts.keys()) {
    let node = trie;
    for (let i = 0; i < b.length; i++) {
      const c = b.charCodeAt(i);
      let child = node.next.get(c);
      if (!child) node.next.set(c, (child = { next: new Map(), brand: false }));
      node = child;
    }
    node.brand = true;
  }
  return { counts, trie };
}

export interface BrandSpan {
  start: number;
  end: number;
  text: string;
}

/** ASCII letter or digit (what `fold` keeps), by char code: this runs per character of every title. */
function alnumAt(text: string, i: number): boolean {
  const c = text.charCodeAt(i);
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/**
 * Lexicon brands in `text`, on letter/digit-run boundaries (folded comparison, so "Dri-Mark"
 * matches "drimark"), longest first at each start, in text order.
 */
export function findBrands(lex: BrandLexicon, text: string): BrandSpan[] {
  const pos: number[] = [];
  const chars: string[] = [];
  for (let i = 0; i < text.length; i++) {
    if (alnumAt(text, i)) {
      chars.push(text.charAt(i));
      pos.push(i);
    }
  }
  const hay = chars.join('').toLowerCase();
  const out: BrandSpan[] = [];
  for (let a = 0; a < hay.length; a++) {
    const start = pos[a]!;
    if (start > 0 && alnumAt(text, start - 1)) continue; // not at a run start
    // The longest lexicon brand from here that ends at a run end (two characters at least).
    let end = -1;
    let node: TrieNode | undefined = lex.trie;
    for (let k = a; k < hay.length; k++) {
      node = node.next.get(hay.charCodeAt(k));
      if (node === undefined) break;
      if (!node.brand || k === a) continue;
      const e = pos[k]! + 1;
      if (e >= text.length || !alnumAt(text, e)) end = e;
    }
    if (end >= 0) out.push({ start, end, text: text.slice(start, end) });
  }
  return out;
}

export interface BrandRuleOptions {
  /** A missed brand is filled in only from the first this-many words of the title. @defaultValue 3 */
  fillWithinWords: number;
}

export const BRAND_RULE_DEFAULTS: BrandRuleOptions = { fillWithinWords: 3 };

const wordIndex = (text: string, at: number): number =>
  text
    .slice(0, at)
    .split(/\s+/)
    .filter((w) => w !== '').length;

/**
 * The brand to report, given the tagger's (or none): a lexicon brand that overlaps the tagger's
 * span and is longer wins (it completes a cut-short or letter-only tag); a tagger brand that is
 * itself in the lexicon, or overlaps none, stands; with no tagger brand, the first lexicon brand
 * within the first `fillWithinWords` words.
 */
export function resolveBrand(lex: BrandLexicon, text: string, tagged: BrandSpan | null, o: BrandRuleOptions = BRAND_RULE_DEFAULTS): BrandSpan | null {
  const found = findBrands(lex, text);
  if (tagged !== null) {
    const overlapping = found.filter((b) => b.start < tagged.end && tagged.start < b.end && fold(b.text).length > fold(tagged.text).length);
    if (lex.counts.has(fold(tagged.text)) && !overlapping.some((b) => b.start === tagged.start)) return tagged;
    return overlapping.sort((a, b) => fold(b.text).length - fold(a.text).length || a.start - b.start)[0] ?? tagged;
  }
  return found.find((b) => wordIndex(text, b.start) < o.fillWithinWords) ?? null;
}
