/**
 * A model number the tagger missed, found by shape: the first of the few words after the brand (or
 * else the title's last word) that mixes letters and digits (or is a 4–6 digit number), and is not a quantity ("16GB", "3.5mm",
 * "1080p", or a number whose next word makes it one: "3000 Lumens"), a barcode, or the brand itself.
 */
import { UNIT_WORDS } from './units.js';

/** Quantities and other number-bearing words that are not model numbers. */
const NOT_MPN =
  /^(?:\d+(?:[.,]\d+)?(?:-?(?:[kmgt]b|gig|gb?|mp|mm|cm|m|ft|in|inch(?:es)?|x|w|v|mah|hz|ghz|mhz|p|i|k|pack|pk|oz|lbs?|ft|ppm|dpi|mbps|gbps|watts?|volts?|pcs?|port|ports|pin|th|st|nd|rd|d|s|g|yr|year|mil|lb|ct|sheets?|feet|foot|meters?|inches|awg|bit))+|\d+x\d*|\d+(?:[.,]\d+)?)$/i;

/**
 * Ranges that are specifications, never model numbers: a rising range with a unit ("18-55mm",
 * "70-300mm", a lens's focal range) or of decimals ("3.5-5.6G", its aperture). Single-letter
 * units stay out: "3700-09M" and "6673-10W" are codes. No model number in train or dev is one.
 */
const UNIT_RANGE = /^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)(?:mm|cm|in|inch(?:es)?|ft|[kmgt]b|[kmg]hz)$/i;
const DECIMAL_RANGE = /^\d+\.\d+-\d+\.\d+[a-z]*$/i;

/**
 * Dimensions, never model numbers either: "60x60MM", "24inX100ft", "1600x1200", "72X96" (the
 * shipped taggers gave 11 such in train and dev titles, none right). Numbers with a leading zero
 * stay out: "02704X5" is a code.
 */
const DIMENSION = /^[1-9]\d{0,3}(?:\.\d+)?(?:mm|cm|m|in|inch(?:es)?|ft|")?x[1-9]\d{0,3}(?:\.\d+)?(?:mm|cm|m|in|inch(?:es)?|ft|")?$/i;

/**
 * Names of standards and formats, never model numbers: "802.11n", "H.264", "MP3", "DDR2",
 * "CAT5e", "RG6", "FW800", "USB2.0", "RJ45", "IEEE1284", "10/100TX". In train and dev titles the
 * shipped taggers give 55 such as a model number, none right (and 7 of the last two on those
 * titles with their model number removed).
 */
const STANDARD =
  /^(?:802\.11[a-z/]*|h\.?26[45]|mpeg-?[124]|mp[34]|ddr[2-5]l?|1394[ab]?|fw-?[48]00|cat-?[5-8]e?a?|rg-?(?:6|58|59|11)u?|usb-?[23](?:\.[01])?|rj-?(?:11|12|45)[mf]?|ieee-?1284|(?:10-?)?100(?:base-?)?tx)$/i;

/**
 * A count of a feature, never a model number: "4-Channel", "80-Minute", "3-Way", "12-Button"
 * (a number, a hyphen and a capitalised word; 46 in train and dev titles, none right), and
 * channels as "8CH", "7.1CH". Codes keep their capitals: "4734-EPCP", "90309-BLK"; in a
 * lower-cased title a count cannot be told from a code ("4734-epcp"), so both stay. COUNTED
 * names things counted, in any case ("4-channel", "2-BUTTON", "2-bay", "51-inch", "10-amp"): 2
 * more in train and dev titles, none right, and 11 on those titles with their model number removed.
 */
const FEATURE_COUNT = /^\d+(?:\.\d+)?-[A-Z][a-z]{2,}$/;
const COUNTED = /^\d+(?:\.\d+)?-(?:channel|bay|port|way|button|outlet|line|handset|label|inch|amp|volt|watt)s?$/i;
const CHANNELS = /^\d+(?:\.\d)?ch$/i;

/**
 * The name of a barcode ("EAN-13", "EAN13", "UPC-A", "GTIN-14", "ISBN-10") that labels the number
 * after it, never a model number: on train and dev titles given a barcode so labelled (as the eval
 * adds them, training/augment-gtin.ts) the shipped taggers give 58, none right ("UPC-2", a Case
 * Logic pocket, is no barcode name and stays).
 */
const BARCODE_NAME = /^(?:ean-?(?:8|13)|upc-?[ae]|gtin-?(?:8|12|13|14)|isbn-?(?:10|13)|jan-?13)$/i;

/** A memory kit ("2x1GB": two 1 GB modules) or a range of disc speeds ("8x-12x", "2.4x-6x"): 6 in train and dev titles, none right. */
const KIT_OR_SPEEDS = /^\d+x\d+(?:\.\d+)?[kmgt]b$|^\d+(?:\.\d+)?x-\d+(?:\.\d+)?x$/i;

/**
 * A rating in a unit no label carries: an antenna's gain ("9dBi"), a UPS's power ("1500VA",
 * "1kVA"), a current ("800mA"), a frequency ("4100MHz"). The shipped taggers give 11 in train and
 * dev titles, none right, and 34 on those titles with their model number removed. ("140W" stays:
 * "PowerLite 1770W" is a projector's model.)
 */
const RATING = /^\d+(?:\.\d+)?(?:dbi|k?va|ma|mah|[kmg]hz)$/i;

/**
 * A bundle ("3-in-1", "3n1", "All-in-1", "7-in-One") or a vehicle's model years ("1998-Up",
 * "2000-2003"): 30 in train and dev titles, none right, and 42 on those titles with their model
 * number removed.
 */
const IN_ONE_OR_YEARS = /^(?:\d+|all)-in-(?:1|one)$|^\d+n1$|^(?:19|20)\d\d-(?:up|(?:19|20)\d\d)$/i;

/** A number with inch or foot marks: `70″` (NFKC makes it `70′′`), `6′`, `65''`: a size or a length, never a model number. */
const MARKED = /^\d+(?:\.\d+)?(?:″|′′?|''?|")$/;

const SPECIFICATIONS = [DECIMAL_RANGE, DIMENSION, STANDARD, BARCODE_NAME, FEATURE_COUNT, COUNTED, CHANNELS, KIT_OR_SPEEDS, RATING, IN_ONE_OR_YEARS, MARKED];

/**
 * Quantities joined by "/", each part a quantity or a bare unit, one with a unit: "1m/3.3ft" (a
 * length in two units), "GB/1TB" (of "500 GB/1TB": two capacities). "DT101G2/8GBZ" and "10/100"
 * stay (a part that is a code; no unit).
 */
function slashedQuantities(word: string): boolean {
  const parts = word.split('/');
  if (parts.length < 2 || parts.some((p) => p === '')) return false;
  return parts.some((p) => /[a-z]/i.test(p)) && parts.every((p) => NOT_MPN.test(p) || UNIT_WORDS.has(p.toLowerCase()));
}

/**
 * `isSpecification("18-55mm")`, `("3.5-5.6G")`, `("60x60MM")`, `("802.11n")`, `("4-Channel")`,
 * `("1500VA")`, `("3-in-1")`, `("70′′")`, `("1m/3.3ft")`: see UNIT_RANGE, SPECIFICATIONS and slashedQuantities.
 */
export function isSpecification(word: string): boolean {
  if (SPECIFICATIONS.some((re) => re.test(word)) || slashedQuantities(word)) return true;
  const m = UNIT_RANGE.exec(word);
  return m !== null && Number(m[1]) < Number(m[2]);
}

/** A quantity ("10FT", "4400mAh", "2TB", a bare number) or a specification (`isSpecification`). */
export const isQuantity = (word: string): boolean => NOT_MPN.test(word) || isSpecification(word);

/**
 * Words that make the number before them a quantity or a product line: "3000 Lumens", "8000
 * Series", "2400 mAh", "500 Sheets". In the training and dev titles no 4-6 digit number followed
 * by one of these is the model number.
 */
export const QUANTITY_NEXT =
  /^(?:series|lumens?|[kmgt]hz|rpm|pages?|sheets?|mah|[kmgt]b|dpi|yield|joules?|watts?|volts?|carton|box|count|ct|pack|pk|pcs|pieces|feet|ft|inch(?:es)?|mm|cm|lbs?|oz|btu|hours?|hrs|x)$/i;

export interface MpnShapeOptions {
  /** Accept all-digit words of this many digits (office products use them). @defaultValue [4, 6] */
  digitsOnly: [number, number];
  /** Look at most this many words past the brand (or the title start). @defaultValue 3 */
  maxWordsAfterBrand: number;
  /** Failing that, take the title's last word if it has the shape (codes often close a title). @defaultValue true */
  lastWord: boolean;
}

export const MPN_SHAPE_DEFAULTS: MpnShapeOptions = { digitsOnly: [4, 6], maxWordsAfterBrand: 3, lastWord: true };

export interface WordSpan {
  start: number;
  end: number;
  text: string;
}

const EDGE = /^[\s,;:()[\]{}"'!?.]+|[\s,;:()[\]{}"'!?.]+$/g;

/** Whitespace-delimited words with edge punctuation trimmed, and their offsets. */
export function words(text: string): WordSpan[] {
  const out: WordSpan[] = [];
  for (const m of text.matchAll(/\S+/g)) {
    const raw = m[0];
    const lead = raw.length - raw.replace(/^[\s,;:()[\]{}"'!?.]+/, '').length;
    const core = raw.replace(EDGE, '');
    if (core === '') continue;
    const start = m.index! + lead;
    out.push({ start, end: start + core.length, text: core });
  }
  return out;
}

export function looksLikeMpn(word: string, o: MpnShapeOptions = MPN_SHAPE_DEFAULTS): boolean {
  if (isSpecification(word)) return false;
  if (NOT_MPN.test(word)) {
    const digits = /^\d+$/.test(word) ? word.length : 0;
    return digits >= o.digitsOnly[0] && digits <= o.digitsOnly[1] && !/^(?:19|20)\d\d$/.test(word);
  }
  if (/^\d{8,}$/.test(word)) return false; // barcodes and other long numbers
  return /\d/.test(word) && /[a-z]/i.test(word) && word.replace(/[^a-z0-9]/gi, '').length >= 3;
}

/**
 * The first model-number-shaped word of the few after the brand span (or the title start), else
 * one before the brand ("GN042 Garmin Nuvi … Mount"), else the last word.
 */
export function findMpnByShape(text: string, brandEnd: number | null, o: MpnShapeOptions = MPN_SHAPE_DEFAULTS): WordSpan | null {
  const all = words(text);
  const quantity = (w: WordSpan): boolean => /^\d+$/.test(w.text) && QUANTITY_NEXT.test(all[all.indexOf(w) + 1]?.text ?? '');
  const after = all.filter((w) => brandEnd === null || w.start >= brandEnd).slice(0, o.maxWordsAfterBrand);
  const near = after.find((w) => looksLikeMpn(w.text, o) && !quantity(w));
  if (near !== undefined) return near;
  const lead = brandEnd === null ? undefined : all.find((w) => w.end < brandEnd && looksLikeMpn(w.text, o) && !quantity(w));
  if (lead !== undefined) return lead;
  const last = all[all.length - 1];
  return o.lastWord && last !== undefined && (brandEnd === null || last.start >= brandEnd) && looksLikeMpn(last.text, o) ? last : null;
}

/**
 * An ink or finish colour code ("BK" of "Canon CLI-226 BK C M Y", "PGBK", "CMY", "BLK"): never a
 * model number on its own (codes that end in one, "CR6002A-BK", "MP OTG400 BK", stay). Single
 * letters stay out: "C" of "Da-Lite Floor Model C" names a model.
 */
const COLOUR_CODE = /^(?:bk|blk|pbk|mbk|pgbk|cmy|cmyk)$/i;

export const isColourCode = (mpn: string): boolean => COLOUR_CODE.test(mpn);

/** One word of small letters, capitalised or not ("Replenish", "docking"): a name, never a code. */
const PLAIN_WORD = /^[A-Z]?[a-z]+$/;

/**
 * A tagged model number that is a plain word and not the model's name: a name counts only right
 * after the brand ("Samsung Replenish …") and only when no code in the title could be the model
 * number ("JVC Everio GZ-MG20 …" → GZ-MG20). On train and dev titles the shipped taggers give 96
 * plain words: 42 wrong ones go, 4 give way to the labelled code and 8 to another, 3 right ones are
 * lost (names later in the title: "… Speakers for iPod … Daydream"); of the 39 kept, 17 are right.
 */
export function isStrayWord(text: string, mpn: string, brandEnd: number | null): boolean {
  if (!PLAIN_WORD.test(mpn)) return false;
  const afterBrand = brandEnd !== null && text.slice(brandEnd).trimStart().startsWith(mpn);
  return !afterBrand || findMpnByShape(text, brandEnd) !== null;
}
