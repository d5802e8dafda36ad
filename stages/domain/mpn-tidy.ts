/**
 * Tidying of a model number the tagger found (the extract stage's `mpnTidy` setting). Each rule
 * was checked on train.jsonl first (the tagger's spans against the labels, compared folded as the
 * eval compares them), and kept only where it fixed more training rows than it broke:
 *
 * - **No leading zeros on all-digit numbers.** Where a title writes an all-digit number with
 *   leading zeros ("Avery … 05146"), the label is the number without them ("5146"): 72 training
 *   rows fixed, 2 broken.
 * - **A code, not a phrase.** A span that starts with a model number and runs on into an ordinary
 *   word ("BP-BG1 Replacement"), a counted thing ("HT10DBS 10-Outlet") or the same code again
 *   ("DT-210 DT-210") is cut to its first word: 10 fixed, 2 broken; so is one that runs on into a
 *   cable's length ("P570-006 6ft"): 2 more fixed, none broken. A first word without digits
 *   is not surely a code, so "ACP-WTA World" stays whole. Short suffixes
 *   stay ("KTD-DM8400A 1G", "DXG-535VW HD"): the data set's titles lost the `/` and `#` of codes
 *   such as "KTD-DM8400A/1G", so such a suffix is as often part of the number as not (cutting
 *   them too broke more training rows than it fixed).
 * - **No word of how it is sold.** "-Bare" or "-Retail" glued to a code ("ST9500325AS-Bare Drive")
 *   is cut: 4 train and dev rows fixed, none broken.
 * - **No number the title goes on to measure.** A span that ends in a bare number the title
 *   continues as a quantity ("TH1814 4" of "TH1814 4 GB", "TS-A878 3" of "TS-A878 3 1 2 Inch", a
 *   3½-inch speaker whose "/" the title lost) is cut to its code: 6 train and dev rows fixed, none
 *   broken; the number stays where the title goes on otherwise ("PD9012 37 9-Inch" is "PD9012/37").
 */
import { looksLikeMpn, QUANTITY_NEXT, words } from './mpn-shape.js';

/** "World", "Replacement", "Amplified": a letter-only word of 5+ letters, at most its first capital. */
const ORDINARY_WORD = /^[A-Z]?[a-z]{4,}$/;
/** "10-Outlet", "208-277-Volt": a count of something. */
const COUNTED = /^\d+(?:-\d+)*-[A-Za-z]{3,}$/;
/** "6ft", "1.5m", "25-Feet": a cable's length (a capacity such as "1G" stays: "KTD-DM8400A/1G"). */
const LENGTH = /^\d+(?:\.\d+)?-?(?:ft|feet|foot|in|inch(?:es)?|mm|cm|m|meters?)$/i;

const fold = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]/g, '');

/** The first word of a multi-word span when it is a model number and what follows is not part of it. */
export function oneCode(mpn: string): string {
  const parts = words(mpn).filter((w) => w.text !== '-');
  const first = parts[0];
  if (first === undefined || parts.length < 2 || !looksLikeMpn(first.text)) return mpn;
  const runsOn = parts.slice(1).some((w) => ORDINARY_WORD.test(w.text) || COUNTED.test(w.text) || LENGTH.test(w.text) || fold(w.text) === fold(first.text));
  return runsOn ? first.text : mpn;
}

/**
 * "40009 - 1.5ft" → "40009", "FW800 - DRDR4A21" → "DRDR4A21": a span that ran over a spaced dash
 * holds a code and something else; the longest part with a model number's shape is the code.
 */
export function codeOfDashed(mpn: string): string {
  if (!mpn.includes(' - ')) return mpn;
  const codes = mpn
    .split(' - ')
    .map((p) => p.trim())
    .filter((p) => !/\s/.test(p) && looksLikeMpn(p));
  return codes.sort((a, b) => b.length - a.length)[0] ?? mpn;
}

/** "05146" → "5146"; keeps at least 3 digits and leaves anything with a letter alone. */
export function withoutLeadingZeros(mpn: string): string {
  return /^0+[1-9]\d{2,}$/.test(mpn) ? mpn.replace(/^0+/, '') : mpn;
}

/**
 * "ST9500325AS-Bare" → "ST9500325AS", "ST3500641AS-RK-Retail" → "ST3500641AS-RK": how the drive is
 * sold ("Bare Drive", "Retail Kit") glued to the code is not part of it.
 */
export function withoutSaleWord(mpn: string): string {
  const cut = mpn.replace(/-(?:bare|retail)$/i, '');
  return cut !== mpn && looksLikeMpn(cut) ? cut : mpn;
}

/** "1 2", "3 4", "1 4in": a fraction written without its "/" (a numerator below a denominator of 2, 4, 8 or 16). */
function splitFraction(numerator: string | undefined, denominator: string | undefined): boolean {
  const n = /^\d+$/.test(numerator ?? '') ? Number(numerator) : NaN;
  const d = Number(/^(\d+)(?:[a-z"]*)$/i.exec(denominator ?? '')?.[1] ?? NaN);
  return n > 0 && [2, 4, 8, 16].includes(d) && n < d;
}

/**
 * "TH1814 4" followed by "GB MP3 Player" → "TH1814"; "TS-A878 3" followed by "1 2 Inch" (3½) →
 * "TS-A878": a code and a bare number that `after` (the title after the span) makes a quantity,
 * by a unit or by finishing a fraction.
 */
export function withoutQuantityTail(mpn: string, after: string): string {
  const m = /^(\S+) (\d+)$/.exec(mpn);
  if (m === null || !looksLikeMpn(m[1]!)) return mpn;
  const [next, then] = words(after).map((w) => w.text);
  const measured = QUANTITY_NEXT.test(next ?? '') || splitFraction(m[2], next) || splitFraction(next, then);
  return measured ? m[1]! : mpn;
}

/** `after`: the title after the span, when known (`withoutQuantityTail`). */
export function tidyMpn(mpn: string, after = ''): string {
  return withoutLeadingZeros(withoutSaleWord(oneCode(withoutQuantityTail(codeOfDashed(mpn), after))));
}
