import type { Redis } from 'ioredis';
import { serverTimeMs } from '../redis/server-time.js';
import type { Logger } from '../observe/logger.js';
import type { Metrics } from '../observe/metrics.js';

/** A stream to keep below an age: entries older than `maxAgeMs` go. */
export interface AgeCap {
  /** The Redis key. */
  stream: string;
  /** The stream's short name (`dlq`, `review`): the metric's `stream` tag, as `stream.length` has it. */
  name: string;
  maxAgeMs: number;
}

/**
 * Trim each stream of entries older than its cap (XTRIM MINID <now - maxAgeMs>, `now` from Redis's
 * TIME: entry ids start with the ms time the server added them, so the age is the server's,
 * whatever the clock of the process that trims). Never silent: every trim that removed entries is logged (`stream.trimmed_by_age`,
 * warn, with the short name, key, count and cut-off) and counted (`stream.trimmed_by_age{stream}`, the short name). Exact
 * MINID, not `~`: the count is what went. Returns the entries removed per stream.
 */
export async function trimByAge(redis: Redis, caps: readonly AgeCap[], o: { logger: Logger; metrics: Metrics; now?: number }): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const now = o.now ?? (await serverTimeMs(redis));
  for (const { stream, name, maxAgeMs } of caps) {
    if (!(maxAgeMs > 0)) continue;
    const minId = `${Math.max(0, now - maxAgeMs)}-0`;
    const removed = Number(await redis.xtrim(stream, 'MINID', minId));
    out.set(stream, removed);
    if (removed > 0) {
      o.metrics.increment('stream.trimmed_by_age', removed, { stream: name });
      o.logger.warn('stream.trimmed_by_age', { stream: name, key: stream, removed, maxAgeMs, olderThan: new Date(now - maxAgeMs).toISOString() });
    }
  }
  return out;
}
