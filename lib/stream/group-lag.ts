/**
 * A consumer group's lag as XINFO GROUPS reports it, checked against the stream before it is
 * believed. Redis computes the lag from counters (the stream's `entries-added` less the group's
 * `entries-read`), and a replica does not keep the group's counter: after a Redis Cluster failover
 * the promoted replica's counter can stay short for good, so the lag is too high by a constant. A
 * soak (3 shards on a 3-master cluster, Redis 7.0.15, a master killed) saw idle shards report a lag
 * of 345 and 356 with an empty stream whose last entry the group had been delivered: `pipeline
 * status` and the console showed 701 waiting, the pipeline never read as idle, and backpressure
 * counted the phantom entries against `maxLag`.
 *
 * What the stream itself says wins: a group delivered the stream's last entry has nothing waiting
 * (0), and the entries waiting are in the stream beside the group's pending ones, so a lag above
 * the length less the pending count is not believed (a review stream keeps its listed items
 * pending: its length alone had hidden the made-up entries).
 */
export interface GroupPosition {
  /** XINFO STREAM/XLEN `length`. */
  length: number;
  /** XINFO GROUPS `pending`: delivered, not acked (in the stream unless trimmed). */
  pending: number;
  /** XINFO GROUPS `last-delivered-id`. */
  lastDeliveredId: string;
  /** XINFO STREAM `last-generated-id`, when read. */
  lastGeneratedId?: string;
}

/**
 * The lag to use: 0 when the group was delivered the stream's last entry; `reported` when it is a
 * number the stream can hold (at most its length less the group's pending entries; 0 only when
 * nothing comes after the group's last-delivered-id, as far as `lastGeneratedId` tells); else
 * null: the caller counts the entries after last-delivered-id (XRANGE) or bounds it by the length.
 * (Pending entries trimmed from the stream make the bound too low: then a right lag is counted
 * again, which costs an XRANGE and gives the same number.)
 */
export function trustedLag(reported: unknown, at: GroupPosition): number | null {
  if (at.lastGeneratedId !== undefined && at.lastDeliveredId === at.lastGeneratedId) return 0;
  if (reported === null || reported === undefined) return null;
  const lag = Number(reported);
  if (!Number.isFinite(lag) || lag > Math.max(0, at.length - at.pending)) return null;
  // A 0 with entries after last-delivered-id is the counter wrong the other way: count them.
  if (lag === 0 && at.lastGeneratedId !== undefined) return null;
  return lag;
}
