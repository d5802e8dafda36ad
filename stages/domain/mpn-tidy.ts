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
 *   ("DT-210 DT-210") is cut to its first word: 10 fixed, 2 broken. A first word without digits
 *   is not surely a code, so "ACP-WTA World" stays whole. Short suffixes
 *   stay ("KTD-DM8400A 1G", "DXG-535VW HD"): the data set's titles lost the `/` and `#` of codes
 *   such as "KTD-DM8400A/1G", so such a suffix is as often part of the number as not (cutting
 *   them too broke more training rows than it fixed).
 */
import { looksLikeMpn, words } from './mpn-shape.js';

/** "World", "Replacement", "Amplified": a letter-only word of 5+ letters, at most its first capital. */
const ORDINARY_WORD = /^[A-Z]?[a-z]{4,}$/;
/** "10-Outlet", "208-277-Volt": a count of something. */
const COUNTED = /^\d+(?:-\d+)*-[A-Za-z]{3,}$/;

const fold = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]/g, '');

/** The first word of a multi-word span when it is a model number and what follows is not part of it. */
export function oneCode(mpn: string): string {
  const parts = words(mpn).filter((w) => w.text !== '-');
  const first = parts[0];
  if (first === undefined || parts.length < 2 || !looksLikeMpn(first.text)) return mpn;
  const runsOn = parts.slice(1).some((w) => ORDINARY_WORD.test(w.text) || COUNTED.test(w.text) || fold(w.text) === fold(first.text));
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

export function tidyMpn(mpn: string): string {
  return withoutLeadingZeros(oneCode(codeOfDashed(mpn)));
}
