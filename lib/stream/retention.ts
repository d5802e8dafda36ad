import type { Redis } from 'ioredis';
import { Script } from '../redis/script.js';

const trimScript = new Script('trim-acked-1');

export interface TrimResult {
  /** Entries removed. */
  removed: number;
  /** The MINID used: the oldest entry some group still needs; undefined when the stream has no group. */
  minId?: string;
}

/**
 * Acked-entry retention: `XTRIM MINID ~` below the oldest entry any consumer group of the stream
 * still needs (its oldest pending entry, or the one after its last delivered), computed and
 * applied in one script (trim-acked-1.lua). Entries a group has not acked, or not yet read, are
 * never removed; `~` trims whole radix-tree nodes only, so a few acked entries may stay a while.
 * A stream without groups is never trimmed.
 */
export async function trimAcked(redis: Redis, stream: string): Promise<TrimResult> {
  const [removed, minId] = await trimScript.run<[number, string]>(redis, [stream], []);
  return { removed, minId: minId || undefined };
}
