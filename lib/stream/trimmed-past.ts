import type { Redis } from 'ioredis';
import { isNoSuchKey } from '../core/redis-replies.js';
import { pairs } from '../core/reply-pairs.js';
import { compareIds } from './stream-id.js';

/** What a reader of a capped stream that had read up to `after` lost to its trimming (an SSE client, `produce --wait`): the first entry still kept. */
export interface TrimmedGap {
  /** The reader's last id on that stream (an SSE client's Last-Event-ID part). */
  after: string;
  /** The stream's first entry now: everything the reader had not seen before it was trimmed away. */
  first: string;
}

/**
 * Whether the completion stream `stream` was trimmed past `after` (`{p}:done` is capped by
 * `limits.doneMaxLen`): its first entry is later than `after` and entries were removed from it
 * (entries-added above its length). Trimming cuts whole nodes of entries, so a first entry that is
 * `after`'s very successor, the one case this takes for a gap wrongly, is rare. Undefined: no gap,
 * or no stream.
 */
export async function trimmedPast(redis: Redis, stream: string, after: string): Promise<TrimmedGap | undefined> {
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
