/**
 * The text steps of a BERT WordPiece tokenizer (BertNormalizer with lowercase,
 * BertPreTokenizer) reimplemented with character offsets back into the original
 * string. transformers.js returns no offsets, so the extractor uses this to map
 * tokens to spans of the input; the model builder uses it to tokenize training
 * text exactly as transformers.js will at inference.
 */

/** Same ranges as BertNormalizer.tokenize_chinese_chars (tested per UTF-16 code unit there). */
function isChineseChar(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0xf900 && cp <= 0xfaff)
  );
}

function isControl(ch: string): boolean {
  if (ch === '\t' || ch === '\n' || ch === '\r') return false;
  return /^(?:\p{Cc}|\p{Cf}|\p{Co}|\p{Cs})$/u.test(ch);
}

export interface NormalizedText {
  /** Normalised text: control characters dropped, whitespace as ' ', lower-cased, accents stripped. */
  text: string;
  /** For each UTF-16 unit of `text`, start of the original character it came from. */
  start: number[];
  /** For each UTF-16 unit of `text`, end (exclusive) of that original character. */
  end: number[];
}

/**
 * BertNormalizer({ clean_text, handle_chinese_chars, lowercase, strip_accents }) applied per character.
 * ASCII characters (nearly all of a product title) take a fast path with the same result as the
 * general one: a control character other than tab, newline and carriage return is dropped, those
 * three and space become ' ', A-Z is lower-cased; ASCII has no accents and no Chinese characters.
 */
export function normalizeWithOffsets(input: string): NormalizedText {
  let text = '';
  const start: number[] = [];
  const end: number[] = [];
  let i = 0;
  for (const ch of input) {
    const from = i;
    i += ch.length;
    const cp = ch.codePointAt(0) ?? 0;
    if (cp < 0x80) {
      // Tab, newline, carriage return and space become ' '; every other code below 0x20 (\v and \f too) and 0x7f is Cc, dropped.
      if (cp === 0x20 || cp === 0x09 || cp === 0x0a || cp === 0x0d) text += ' ';
      else if (cp < 0x20 || cp === 0x7f) continue;
      else text += cp >= 0x41 && cp <= 0x5a ? String.fromCharCode(cp + 32) : ch;
      start.push(from);
      end.push(i);
      continue;
    }
    if (cp === 0xfffd || isControl(ch)) continue;
    let out: string;
    if (/^\s$/u.test(ch)) out = ' ';
    else if (ch.length === 1 && isChineseChar(cp)) out = ` ${ch} `;
    else out = ch.toLowerCase().normalize('NFD').replace(/\p{Mn}/gu, '');
    text += out;
    for (let k = 0; k < out.length; k++) {
      start.push(from);
      end.push(i);
    }
  }
  return { text, start, end };
}

const PUNCT = '\\p{P}\\u0021-\\u002F\\u003A-\\u0040\\u005B-\\u0060\\u007B-\\u007E';
/** BertPreTokenizer: runs of non-space non-punctuation, or single punctuation characters. */
const PRE_TOKEN = new RegExp(`[^\\s${PUNCT}]+|[${PUNCT}]`, 'gu');

export interface Word {
  text: string;
  /** Offsets in the normalised text. */
  start: number;
  end: number;
}

export function preTokenize(normalized: string): Word[] {
  const words: Word[] = [];
  for (const m of normalized.matchAll(PRE_TOKEN)) {
    const s = m.index ?? 0;
    words.push({ text: m[0], start: s, end: s + m[0].length });
  }
  return words;
}
