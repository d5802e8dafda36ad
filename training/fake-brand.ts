/**
 * Made-up brands for the taggers' brand-swapped training copies: a title's leading brand is
 * replaced by a name the network has never seen as a brand, so that it learns where a brand stands
 * and how it reads rather than which words are brands. Half are pseudo-words of consonant-vowel
 * syllables ("Vorka", "Tesmi Lonar", "KelTron"); half are words of the training titles ("Heritage",
 * "Super Black"): real brands are often plain words, and the taggers must learn that such a word
 * in a brand's place is one.
 */
import type { Prng } from './prng.js';

const ONSETS = [
  'b',
  'c',
  'd',
  'f',
  'g',
  'h',
  'j',
  'k',
  'l',
  'm',
  'n',
  'p',
  'r',
  's',
  't',
  'v',
  'w',
  'z',
  'br',
  'cr',
  'st',
  'tr',
  'pl',
  'gr',
  'sh',
  'ch',
] as const;
const VOWELS = ['a', 'e', 'i', 'o', 'u', 'y', 'ai', 'ea', 'io'] as const;
const CODAS = ['', '', '', 'n', 'r', 's', 'x', 'l', 'k', 'm', 't', 'nd', 'rt', 'ck'] as const;

const capitalised = (w: string): string => w.charAt(0).toUpperCase() + w.slice(1);

function pseudoWord(rng: Prng): string {
  const syllables = 1 + rng.int(3);
  let w = '';
  for (let i = 0; i < syllables; i++) w += rng.pick(ONSETS) + rng.pick(VOWELS);
  return capitalised(w + rng.pick(CODAS));
}

/** One pseudo-word (60 %), two (25 %) or two glued (15 %); a fifth of them in capitals. */
function pseudoName(rng: Prng): string {
  const r = rng.next();
  const name = r < 0.6 ? pseudoWord(rng) : r < 0.85 ? `${pseudoWord(rng)} ${pseudoWord(rng)}` : pseudoWord(rng) + pseudoWord(rng);
  return rng.next() < 0.2 ? name.toUpperCase() : name;
}

/** The distinct words of `titles` (letters only, at least 3), capitalised, in the order first seen. */
export function titleWords(titles: Iterable<string>): string[] {
  const seen = new Set<string>();
  for (const t of titles) for (const w of t.split(' ')) if (/^[A-Za-z]{3,}$/.test(w)) seen.add(w.toLowerCase());
  return [...seen].map(capitalised);
}

/** A made-up brand: a pseudo-name, or one (70 %) or two words of `words` (titleWords). */
export function fakeBrand(rng: Prng, words: readonly string[]): string {
  if (rng.next() < 0.5 || words.length === 0) return pseudoName(rng);
  return rng.next() < 0.7 ? rng.pick(words) : `${rng.pick(words)} ${rng.pick(words)}`;
}
