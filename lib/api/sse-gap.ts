import type { TrimmedGap } from '../stream/trimmed-past.js';

/** The SSE frame that tells the client of a gap: `event: gap`, no `id:` (its Last-Event-ID stays where it was). */
export function gapFrame(gap: TrimmedGap, shard: number | undefined): string {
  return `event: gap\ndata: ${JSON.stringify({ ...(shard === undefined ? {} : { shard }), ...gap })}\n\n`;
}
