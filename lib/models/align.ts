/**
 * Maps the tokens transformers.js produced for a text back to spans of that text.
 * Walks the original string with the tokenizer's own normalisation and
 * pre-tokenisation (bert-text.ts) and consumes WordPiece tokens word by word.
 */
import { normalizeWithOffsets, preTokenize } from './bert-text.js';

export interface TokenSpans {
  /** Original-string span of each token; -1 for special tokens. */
  start: Int32Array;
  end: Int32Array;
}

export class AlignmentError extends Error {
  override name = 'AlignmentError';
}

interface SourceWord {
  /** Normalised word text, or the literal of a special token written in the input. */
  text: string;
  special: boolean;
  /**
   * Original offset of unit `i` of `text` is `starts[base + i] + shift`, its end `ends[base + i] +
   * shift`: views into the segment's normalisation, not copies per word (fewer allocations per title).
   */
  starts: readonly number[];
  ends: readonly number[];
  base: number;
  shift: number;
}

const PREFIX = '##';

function sourceWords(input: string, specials: readonly string[]): SourceWord[] {
  const out: SourceWord[] = [];
  const addSegment = (offset: number, segment: string): void => {
    const norm = normalizeWithOffsets(segment);
    for (const w of preTokenize(norm.text)) out.push({ text: w.text, special: false, starts: norm.start, ends: norm.end, base: w.start, shift: offset });
  };
  // The tokenizer splits literal special tokens out of the input before normalising.
  const firsts = new Set(specials.filter((s) => s.length > 0).map((s) => s.charAt(0)));
  let last = 0;
  for (let at = 0; at < input.length; ) {
    const hit = firsts.has(input.charAt(at)) ? specials.find((s) => s.length > 0 && input.startsWith(s, at)) : undefined;
    if (hit === undefined) {
      at++;
      continue;
    }
    addSegment(last, input.slice(last, at));
    out.push({ text: hit, special: true, starts: [at], ends: [at + hit.length], base: 0, shift: 0 });
    at += hit.length;
    last = at;
  }
  addSegment(last, input.slice(last));
  return out;
}

/**
 * @param tokens the token strings of one encoded text (no padding), special tokens included
 * @param specials the tokenizer's special token strings
 * @param unkToken the unknown-word token, which stands for a whole word
 */
export function alignTokens(input: string, tokens: readonly string[], specials: readonly string[], unkToken: string): TokenSpans {
  const n = tokens.length;
  const spans: TokenSpans = { start: new Int32Array(n).fill(-1), end: new Int32Array(n).fill(-1) };
  const words = sourceWords(input, specials);
  let t = 0;
  const skipTemplateTokens = (): void => {
    while (t < n && specials.includes(tokens[t]!) && tokens[t] !== unkToken) t++;
  };
  for (const word of words) {
    if (word.special) {
      // A literal special token in the text; the template's [CLS] may precede it.
      while (t < n && tokens[t] !== word.text) t++;
      if (t === n) break;
      spans.start[t] = word.starts[0]!;
      spans.end[t] = word.ends[0]!;
      t++;
      continue;
    }
    skipTemplateTokens();
    if (t === n) break;
    let pos = 0;
    while (pos < word.text.length && t < n) {
      const token = tokens[t]!;
      let len: number;
      if (token === unkToken) {
        len = word.text.length - pos;
      } else {
        const piece = pos > 0 && token.startsWith(PREFIX) ? token.slice(PREFIX.length) : token;
        if (!word.text.startsWith(piece, pos)) {
          throw new AlignmentError(`token ${JSON.stringify(token)} does not match ${JSON.stringify(word.text)} at ${pos}`);
        }
        len = piece.length;
      }
      spans.start[t] = word.starts[word.base + pos]! + word.shift;
      spans.end[t] = word.ends[word.base + pos + len - 1]! + word.shift;
      pos += len;
      t++;
    }
  }
  return spans;
}
