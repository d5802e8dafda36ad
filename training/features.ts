/**
 * Token features the classifier computes in its ONNX graph from the tokenizer's ids, mirrored
 * here for training: a shape map that sends every digit piece to one id (model numbers and sizes
 * stop being memorised as individual numbers) and hashed bigrams of adjacent mapped ids.
 */
import type { Vocab } from './tokenizer.js';

export interface FeatureOptions {
  /** Map every all-digit word piece to the id of "0" ("##0" for continuations). @defaultValue true */
  abstractDigits: boolean;
  /** Hash buckets for bigrams of adjacent token ids. @defaultValue 131072 */
  bigramBuckets: number;
}

export const FEATURE_DEFAULTS: FeatureOptions = { abstractDigits: true, bigramBuckets: 1 << 17 };

/** Multiplier of the bigram hash: bucket = (a · M + b) mod buckets, exact in int64 and in doubles. */
export const BIGRAM_MULTIPLIER = 1000003;

/** id → feature id: identity, except all-digit pieces when `abstractDigits`. */
export function shapeMap(vocab: Vocab, abstractDigits: boolean): Int32Array {
  const map = Int32Array.from(vocab.tokens, (_, i) => i);
  if (!abstractDigits) return map;
  const zero = vocab.ids.get('0');
  const zeroCont = vocab.ids.get('##0');
  if (zero === undefined || zeroCont === undefined) return map;
  vocab.tokens.forEach((t, i) => {
    if (/^\d+$/.test(t)) map[i] = zero;
    else if (/^##\d+$/.test(t)) map[i] = zeroCont;
  });
  return map;
}

export function bigramBucket(a: number, b: number, buckets: number): number {
  return (a * BIGRAM_MULTIPLIER + b) % buckets;
}

/** Mapped unigram ids of an encoded title (all positions, [CLS] and [SEP] included, as in the graph). */
export function mappedIds(ids: Int32Array, map: Int32Array): Int32Array {
  return Int32Array.from(ids, (id) => map[id]!);
}

/** Bigram buckets of adjacent mapped ids. */
export function bigramIds(mapped: Int32Array, buckets: number): Int32Array {
  const out = new Int32Array(Math.max(0, mapped.length - 1));
  for (let t = 0; t + 1 < mapped.length; t++) out[t] = bigramBucket(mapped[t]!, mapped[t + 1]!, buckets);
  return out;
}
