/**
 * Tokenise once: the first model stage puts the title's token ids into the envelope, and later
 * model stages whose tokenizer is the same (all shipped models share one) and whose text is the
 * same use them instead of running transformers.js's tokenizer again (lib/models/token-rows.ts).
 */
import type { TokenRows } from '../../lib/models/token-rows.js';
import { fnv1a32 } from '../../lib/redis/shard.js';
import type { Message } from '../../lib/stream/codec.js';

/** Per message, the carried ids when they were made by `tokenizerId` from this very text. */
export function carriedRows(batch: readonly Message[], texts: readonly string[], tokenizerId: string): TokenRows {
  return batch.map((m, i) => {
    const t = m.envelope.tokens;
    return t && t.tokenizer === tokenizerId && t.text === fnv1a32(texts[i]!) && Array.isArray(t.ids) && t.ids.every(Number.isSafeInteger) ? t.ids : undefined;
  });
}

/** Carry each message's rows on, unless its envelope already carries ids (of this or another tokenizer). */
export function carryRows(batch: readonly Message[], texts: readonly string[], tokenizerId: string, rows: TokenRows): void {
  batch.forEach((m, i) => {
    const ids = rows[i];
    if (m.envelope.tokens === undefined && ids !== undefined) m.envelope.tokens = { tokenizer: tokenizerId, text: fnv1a32(texts[i]!), ids: [...ids] };
  });
}
