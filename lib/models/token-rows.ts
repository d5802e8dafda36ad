/**
 * Token ids per text ("rows"), so that a title is tokenised once on its way through the
 * pipeline: every shipped model shares one tokenizer, and transformers.js's tokenizer costs about
 * 60 µs per title, more than some of the models. The ids always come from transformers.js's
 * tokenizer (the first model stage that needs them); a later stage with the same tokenizer
 * rebuilds the padded batch from them. A model with another tokenizer (e.g. one from the hub) has
 * another `tokenizerId` and tokenises for itself.
 */
import { createHash } from 'node:crypto';
import type { PreTrainedTokenizer, Tensor } from '@huggingface/transformers';
import { transformersLoaded } from './transformers.js';

/**
 * Per text of a batch: its token ids (special tokens included, truncated, unpadded) when already
 * known, else `undefined`. A model call given such an array reads the known rows and fills in the
 * ones it tokenised.
 */
export type TokenRows = (readonly number[] | undefined)[];

/** The tensors a BERT tokenizer returns for a padded batch. */
export interface TokenizedBatch {
  input_ids: Tensor;
  attention_mask: Tensor;
  [name: string]: Tensor;
}

/**
 * Identifies what a tokenizer does: a hash of its tokenizer.json and tokenizer_config.json as
 * transformers.js read them (vocabulary, normalizer, truncation length). Two models with equal ids
 * turn a text into equal rows. Falls back to `fallback` (the model name: no sharing) when the
 * tokenizer does not expose them.
 */
export function tokenizerId(tokenizer: PreTrainedTokenizer, fallback: string): string {
  const t = tokenizer as unknown as { _tokenizerJSON?: unknown; _tokenizerConfig?: unknown };
  if (t._tokenizerJSON === undefined) return `model:${fallback}`;
  return createHash('sha256')
    .update(JSON.stringify(t._tokenizerJSON))
    .update('\0')
    .update(JSON.stringify(t._tokenizerConfig ?? null))
    .digest('hex')
    .slice(0, 16);
}

/** The unpadded rows of a padded batch (the ids where the attention mask is set). */
export function rowsOf(batch: TokenizedBatch): number[][] {
  const [n = 0, seq = 0] = batch.input_ids.dims;
  const ids = batch.input_ids.data as BigInt64Array;
  const mask = batch.attention_mask.data as BigInt64Array;
  const rows: number[][] = [];
  for (let b = 0; b < n; b++) {
    const row: number[] = [];
    for (let s = 0; s < seq; s++) if (mask[b * seq + s] !== 0n) row.push(Number(ids[b * seq + s]));
    rows.push(row);
  }
  return rows;
}

export interface PadOptions {
  padId: number;
  side: 'left' | 'right';
  /** Add an all-zero `token_type_ids` (BERT tokenizers return one; graphs that do not declare it never get it). */
  typeIds: boolean;
}

/** A padded int64 batch from rows, as the tokenizer would have returned it with `padding: true`. */
export function batchOfRows(rows: readonly (readonly number[])[], o: PadOptions): TokenizedBatch {
  const n = rows.length;
  const seq = rows.reduce((m, r) => Math.max(m, r.length), 0);
  const ids = new BigInt64Array(n * seq).fill(BigInt(o.padId));
  const mask = new BigInt64Array(n * seq);
  rows.forEach((row, b) => {
    const start = b * seq + (o.side === 'left' ? seq - row.length : 0);
    for (let s = 0; s < row.length; s++) {
      ids[start + s] = BigInt(row[s]!);
      mask[start + s] = 1n;
    }
  });
  const { Tensor } = transformersLoaded(); // rows come from a loaded model's tokenizer
  const batch: TokenizedBatch = { input_ids: new Tensor('int64', ids, [n, seq]), attention_mask: new Tensor('int64', mask, [n, seq]) };
  if (o.typeIds) batch.token_type_ids = new Tensor('int64', new BigInt64Array(n * seq), [n, seq]);
  return batch;
}

/**
 * One padded batch for `texts`: rows given in `known` are used as they are, the others come from
 * one tokenizer call and are written into `known` (when given) for the caller to pass on.
 */
export function tokenizeRows(tokenizer: PreTrainedTokenizer, texts: readonly string[], pad: PadOptions, known?: TokenRows): TokenizedBatch {
  const call = (t: string[]) => tokenizer(t, { padding: true, truncation: true }) as TokenizedBatch;
  if (!known) return call([...texts]);
  const missing = texts.flatMap((_, i) => (known[i] === undefined ? [i] : []));
  if (missing.length === texts.length) {
    // Nothing known: the tokenizer's own batch, and its rows for the caller.
    const batch = call([...texts]);
    rowsOf(batch).forEach((row, i) => (known[i] = row));
    return batch;
  }
  if (missing.length > 0) rowsOf(call(missing.map((i) => texts[i]!))).forEach((row, j) => (known[missing[j]!] = row));
  return batchOfRows(known as number[][], pad);
}
