/**
 * WordPiece vocabulary building and encoding, plus the Hugging Face tokenizer files.
 * Encoding mirrors what transformers.js does with the emitted tokenizer.json
 * (checked in test/models/models.test.ts), so training sees the same ids as inference.
 */
import { normalizeWithOffsets, preTokenize } from '../lib/models/bert-text.js';

export const SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;
export const PAD_ID = 0;
export const UNK_ID = 1;
export const CLS_ID = 2;
export const SEP_ID = 3;
export const MODEL_MAX_LENGTH = 128;
const PREFIX = '##';
const MAX_CHARS_PER_WORD = 100;

/**
 * Characters that are not in the (ASCII) training data but common in product titles
 * from other sources; each gets a word and a ## entry so e.g. "Sony™" maps to
 * "sony" "##™" rather than [UNK]. Accented letters need no entry: the normaliser strips accents.
 */
const EXTRA_CHARS = '¡¢£¤¥¦§¨©ª«¬®¯°±²³´µ¶·¸¹º»¼½¾¿×÷ßæðøþœłđħı' + '‐‑‒–—―‘’‚“”„†‡•…‰′″‹›€₤₹™℃℉№Ω←↑→↓∅−√∞≈≠≤≥■□▪●★☆✓✔';

export interface Vocab {
  tokens: string[];
  ids: Map<string, number>;
}

export interface VocabOptions {
  /** Keep whole words seen at least this many times. */
  minCount: number;
  /** Upper bound on whole-word entries (most frequent first). */
  maxWords: number;
}

/** Vocabulary: specials, every character (plain and ##), two-digit chunks, then frequent words. */
export function buildVocab(titles: readonly string[], opts: VocabOptions): Vocab {
  const counts = new Map<string, number>();
  const chars = new Set<string>(EXTRA_CHARS);
  for (let c = 0x21; c < 0x7f; c++) chars.add(String.fromCharCode(c).toLowerCase());
  for (const title of titles) {
    for (const w of preTokenize(normalizeWithOffsets(title).text)) {
      counts.set(w.text, (counts.get(w.text) ?? 0) + 1);
      for (const c of w.text) chars.add(c);
    }
  }
  const tokens: string[] = [...SPECIAL_TOKENS];
  const seen = new Set<string>(tokens);
  const add = (t: string): void => {
    if (!seen.has(t)) {
      seen.add(t);
      tokens.push(t);
    }
  };
  const sortedChars = [...chars].sort();
  for (const c of sortedChars) add(c);
  for (const c of sortedChars) add(PREFIX + c);
  // Two-digit pieces halve the length of long numbers, so the taggers' convolutions
  // see a whole 12-14 digit code (GTIN) in a few tokens.
  for (let n = 0; n < 100; n++) add(String(n).padStart(2, '0'));
  for (let n = 0; n < 100; n++) add(PREFIX + String(n).padStart(2, '0'));
  const frequent = [...counts.entries()]
    .filter(([w, n]) => n >= opts.minCount && [...w].length > 1)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .slice(0, opts.maxWords);
  for (const [w] of frequent) add(w);
  return { tokens, ids: new Map(tokens.map((t, i) => [t, i])) };
}

/** Greedy longest-match-first WordPiece, as in the Hugging Face WordPiece model. */
function wordPieces(word: string, vocab: Vocab): string[] {
  const chars = [...word];
  if (chars.length > MAX_CHARS_PER_WORD) return ['[UNK]'];
  const pieces: string[] = [];
  let start = 0;
  while (start < chars.length) {
    let end = chars.length;
    let found: string | null = null;
    while (start < end) {
      const sub = (start > 0 ? PREFIX : '') + chars.slice(start, end).join('');
      if (vocab.ids.has(sub)) {
        found = sub;
        break;
      }
      end--;
    }
    if (found === null) return ['[UNK]'];
    pieces.push(found);
    start = end;
  }
  return pieces;
}

export interface Encoding {
  ids: Int32Array;
  /** Original-string span of each token; -1 for [CLS]/[SEP]. */
  start: Int32Array;
  end: Int32Array;
}

/** Literal special tokens in the input are kept whole, as the added-token splitter does. */
const SPECIAL_SPLIT = /\[(?:PAD|UNK|CLS|SEP|MASK)\]/g;

/**
 * [CLS] pieces… [SEP], then cut to `maxLength` tokens: transformers.js truncates
 * after adding the special tokens, so a long title loses its [SEP].
 */
export function encode(text: string, vocab: Vocab, maxLength = MODEL_MAX_LENGTH): Encoding {
  const ids = [CLS_ID];
  const start = [-1];
  const end = [-1];
  const addSegment = (offset: number, segment: string): void => {
    const norm = normalizeWithOffsets(segment);
    for (const wd of preTokenize(norm.text)) {
      let pos = wd.start;
      for (const piece of wordPieces(wd.text, vocab)) {
        // UTF-16 length of the piece in the normalised text ([UNK] stands for the whole word).
        const len = piece === '[UNK]' ? wd.end - wd.start : pos > wd.start ? piece.length - PREFIX.length : piece.length;
        ids.push(vocab.ids.get(piece) ?? UNK_ID);
        start.push(offset + norm.start[pos]!);
        end.push(offset + norm.end[pos + len - 1]!);
        pos += len;
      }
    }
  };
  let last = 0;
  for (const m of text.matchAll(SPECIAL_SPLIT)) {
    const at = m.index ?? 0;
    addSegment(last, text.slice(last, at));
    ids.push(vocab.ids.get(m[0]) ?? UNK_ID);
    start.push(at);
    end.push(at + m[0].length);
    last = at + m[0].length;
  }
  addSegment(last, text.slice(last));
  ids.push(SEP_ID);
  start.push(-1);
  end.push(-1);
  const n = Math.min(ids.length, maxLength);
  return {
    ids: Int32Array.from(ids.slice(0, n)),
    start: Int32Array.from(start.slice(0, n)),
    end: Int32Array.from(end.slice(0, n)),
  };
}

/** tokenizer.json for a BERT WordPiece tokenizer with the given vocabulary. */
export function tokenizerJson(vocab: Vocab): object {
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase: true,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [CLS_ID], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [SEP_ID], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: PREFIX, cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: PREFIX,
      max_input_chars_per_word: MAX_CHARS_PER_WORD,
      vocab: Object.fromEntries(vocab.tokens.map((t, i) => [t, i])),
    },
  };
}

export function tokenizerConfigJson(): object {
  return {
    tokenizer_class: 'BertTokenizer',
    do_lower_case: true,
    strip_accents: null,
    tokenize_chinese_chars: true,
    model_max_length: MODEL_MAX_LENGTH,
    padding_side: 'right',
    truncation_side: 'right',
    pad_token: '[PAD]',
    unk_token: '[UNK]',
    cls_token: '[CLS]',
    sep_token: '[SEP]',
    mask_token: '[MASK]',
    clean_up_tokenization_spaces: true,
  };
}
