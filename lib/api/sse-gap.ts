import type { Redis } from 'ioredis';
import { isNoSuchKey } from '../core/redis-replies.js';
import { pairs } from '../core/reply-pairs.js';
import { compareIds } from './status.js';

/** What an SSE client resuming after `after` lost to the capped stream's trimming: the first entry still kept. */
export interface SseGap {
  /** The client's last id on that stream (its Last-Event-ID's part). */
  after: string;
  /** The stream's first entry now: everything the client had not seen before it was trimmed away. */
  first: string;
}

/**
 * Whether the completion stream `stream` was trimmed past `after` (`{p}:done` is capped by
 * `limits.doneMaxLen`): its first entry is later than `after` and entries were removed from it
 * (entries-added above its length). Trimming cuts whole nodes of entries, so a first entry that is
 * `after`'s very successor, the one case this takes for a gap wrongly, is rare. Undefined: no gap,
 * or no stream.
 */
export async function trimmedPast(redis: Redis, stream: string, after: string): Promise<SseGap | undefined> {
  let info: Map<string, unknown>;
  try {
    info = pairs((await redis.xinfo('STREAM', stream)) as unknown[]);
  } catch (err) {
    if (isNoSuchKey(err)) return undefined;
    throw err;
  }
  const first = (info.get('first-entry') as [string, unknown] | null)?.[0];
  if (!first || Number(info.get('entries-added')) <= Number(info.get('length'))) return undefined;
  return compareIds(after, first) < 0 ? { after, first } : undefined;
}

/** The SSE frame that tells the client of a gap: `event: gap`, no `id:` (its Last-Event-ID stays where it was). */
export function gapFrame(gap: SseGap, shard: number | undefined): string {
  return `event: gap\ndata: ${JSON.stringify({ ...(shard === undefined ? {} : { shard }), ...gap })}\n\n`;
}
