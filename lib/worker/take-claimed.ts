import type { Redis } from 'ioredis';
import type { Logger } from '../observe/logger.js';
import { Script } from '../redis/script.js';
import { toEntries } from '../stream/entries.js';
import type { Queued } from '../stream/retry-queue.js';

const script = new Script('take-claimed-1');

/**
 * A reclaimed entry (claimed by the reclaimer without its data or a delivery counted), its
 * delivery counted and its data read now, as it is about to run by itself (take-claimed-1.lua):
 * [] when it is no longer this consumer's or its data is gone.
 */
export async function takeClaimed(redis: Redis, stream: string, group: string, consumer: string, q: Queued, logger: Logger): Promise<Queued[]> {
  const r = await script.runBuffer<[Buffer, Buffer[], number] | null>(redis, [stream], [group, consumer, q.entry.id]);
  if (!r) {
    logger.info('reclaim.gone', { id: q.entry.id, hint: 'acked, claimed by another consumer, or its data trimmed away since it was claimed' });
    return [];
  }
  const [entry] = toEntries([[r[0], r[1]]]);
  return entry ? [{ entry, attempt: Number(r[2]), dueAt: 0 }] : [];
}
