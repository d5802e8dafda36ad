import type { Redis } from 'ioredis';
import { isNoPermReply } from '../core/redis-replies.js';
import { trustedLag } from './group-lag.js';

/** How many entries after a group's last-delivered-id are counted when Redis reports no lag it can be believed on (`lagEstimateCap`'s default). */
export const LAG_ESTIMATE_CAP = 1000;

/** A group's backlog on one stream. */
export interface GroupBacklog {
  /** Entries not yet delivered to the group; null when Redis cannot tell and they could not be counted. */
  lag: number | null;
  /** True when `lag` was counted (XRANGE, at most the cap: at the cap, a lower bound), not reported. */
  lagEstimated?: true;
  /** When counted: the last entry counted (none when there were none), where a bound on what was counted ends. */
  lastCountedId?: string;
}

/** The stream a group is on, as XINFO STREAM reports it. */
export interface StreamEnd {
  length: number;
  /** `last-generated-id`. */
  lastId: string;
}

/**
 * The entries after `afterId` (those not yet delivered to a group that was delivered `afterId`),
 * counted with one XRANGE of at most `cap` entries, and the last of them; null when they cannot be read.
 */
async function countAfter(redis: Redis, key: string, afterId: string, cap: number): Promise<{ count: number; lastId?: string } | null> {
  try {
    const entries = (await redis.xrange(key, `(${afterId}`, '+', 'COUNT', cap)) as [string, unknown][];
    return entries.length ? { count: entries.length, lastId: entries.at(-1)![0] } : { count: 0 };
  } catch (err) {
    if (isNoPermReply(err)) return null; // a user that may not XRANGE: the lag stays unknown
    throw err;
  }
}

/**
 * The backlog of the group whose XINFO GROUPS row is `group` on the stream `key`: the one place a
 * group's lag is read (stage groups for `pipeline status` and the `group.lag` gauge, webhook groups
 * for `pipeline status` and the `webhooks.lag` gauge). Redis reports lag as nil when it cannot compute it (after deletions, after a
 * restart from the AOF), and one its counters got wrong after a Cluster failover (lib/stream/group-lag.ts);
 * 0 is still certain when the group has been delivered the stream's last entry, and otherwise the
 * entries after its last-delivered-id are counted (bounded by `cap`; 0: left unknown).
 */
export async function groupBacklog(redis: Redis, key: string, group: Map<string, unknown>, stream: StreamEnd, cap: number): Promise<GroupBacklog> {
  const lastDeliveredId = String(group.get('last-delivered-id'));
  const lag = trustedLag(group.get('lag'), {
    length: stream.length,
    pending: Number(group.get('pending') ?? 0),
    lastDeliveredId,
    lastGeneratedId: stream.lastId,
  });
  if (lag !== null || !(cap > 0)) return { lag };
  const counted = await countAfter(redis, key, lastDeliveredId, cap);
  if (counted === null) return { lag: null };
  return { lag: counted.count, lagEstimated: true, ...(counted.lastId === undefined ? {} : { lastCountedId: counted.lastId }) };
}
