import type { Redis } from 'ioredis';
import { Script } from '../redis/script.js';
import { isNoGroup } from '../core/redis-replies.js';

const script = new Script('hand-over-dead-1');

/** What `handOverConsumer` needs besides the connection. */
export interface HandOverTarget {
  stream: string;
  group: string;
  /** The consumer whose entries are made claimable. */
  consumer: string;
  /** Only its entries idle at least this long (ms) are touched; asked again per page. */
  minIdleMs: () => number;
  /** The idle time the entries are given: the stage's `claimMinIdleMs`, so the next XAUTOCLAIM takes them. */
  claimMinIdleMs: number;
  /** Entries per script call. @defaultValue 500 */
  pageSize?: number;
}

/**
 * Make one group's pending entries of a consumer known to be gone claimable now
 * (lib/lua/hand-over-dead-1.lua), page by page, keeping their delivery counts: the next reclaimer
 * pass of any consumer of the group claims them through claim-3.lua (fenced). The path both the
 * supervisor (lib/ops/dead-handover.ts, a child seen to exit) and the reclaimer
 * (lib/worker/liveness-handover.ts, a consumer whose liveness marker is gone) take. Returns how
 * many entries; 0 when the group (or its stream) does not exist.
 */
export async function handOverConsumer(redis: Redis, t: HandOverTarget): Promise<number> {
  let total = 0;
  let cursor = '-';
  do {
    let reply: [number, string];
    try {
      reply = await script.run<[number, string]>(
        redis,
        [t.stream],
        [t.group, t.consumer, Math.max(0, Math.floor(t.minIdleMs())), t.claimMinIdleMs, t.pageSize ?? 500, cursor],
      );
    } catch (err) {
      if (isNoGroup(err)) return total;
      throw err;
    }
    total += Number(reply[0]);
    cursor = String(reply[1]);
  } while (cursor !== '');
  return total;
}
