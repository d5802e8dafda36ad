import { FIELD_ENVELOPE, FIELD_KEY } from './codec.js';
import type { RawEntry } from './entries.js';
import type { Forward } from './handoff.js';

/** Why a message was dead-lettered. */
export const DEAD_LETTER_REASONS = ['max_deliveries', 'permanent_error', 'undecodable', 'no_route', 'unwritable_target', 'purged'] as const;
export type DeadLetterReason = (typeof DEAD_LETTER_REASONS)[number];

export interface DeadLetter {
  reason: DeadLetterReason;
  error: string;
  deliveries: number;
}

/** DLQ entry fields, beside the original `k` and `e`. */
export const DLQ_FIELDS = ['stage', 'stream', 'id', 'reason', 'error', 'deliveries', 'at'] as const;

/**
 * The hand-off that moves an entry to the dead-letter stream: acked on its stream, and its
 * original fields kept byte for byte (so it can be replayed), plus where it came from and why.
 */
export function deadLetterForward(entry: RawEntry, stage: string, stream: string, dlqKey: string, dl: DeadLetter): Forward {
  const fields: (string | Buffer)[] = [];
  for (let i = 0; i + 1 < entry.fields.length; i += 2) {
    const name = entry.fields[i]!.toString();
    if (name === FIELD_KEY || name === FIELD_ENVELOPE) fields.push(name, entry.fields[i + 1]!);
  }
  fields.push(
    'stage',
    stage,
    'stream',
    stream,
    'id',
    entry.id,
    'reason',
    dl.reason,
    'error',
    dl.error.slice(0, 2_000),
    'deliveries',
    String(dl.deliveries),
    'at',
    String(Date.now()),
  );
  return { id: entry.id, targets: [dlqKey], fields };
}
