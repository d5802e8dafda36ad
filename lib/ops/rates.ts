import type { PipelineStatus, StreamStatus } from './inspect.js';

/**
 * Rates from Redis' counters (XINFO STREAM `entries-added`, XINFO GROUPS `entries-read`),
 * differenced between two samples: `pipeline top` and the console's sampler both take them from
 * here.
 *
 * A counter that went backwards gives no rate for that sample (null: "-" in `top`, "–" on the
 * console, null in JSON), not 0: after a failover and a failback (lib/stream/group-lag.ts) the
 * master's `entries-read` can be short by every entry read on the other master, and a group made
 * again starts over. The next sample differences from the new value and is right again. A sharded
 * pipeline's counters are differenced shard by shard, so one shard's counter going back is not
 * hidden in the sum (the sum of the others' increases read as the pipeline's rate, too low).
 */

/** A stream's counter on each shard (one element unsharded); null where Redis cannot tell. */
export function shardCounters(status: PipelineStatus, index: number, pick: (s: StreamStatus) => number | null | undefined): (number | null)[] {
  return (status.shards ?? [status]).map((sh) => {
    const s = sh.streams[index];
    return s ? (pick(s) ?? null) : null;
  });
}

/** The counters' increase from `before` to `now`, summed over the shards; null when any is unknown or went backwards. */
export function counterDelta(now: readonly (number | null)[], before: readonly (number | null)[] | undefined): number | null {
  if (!before || before.length !== now.length) return null;
  let sum = 0;
  for (let i = 0; i < now.length; i++) {
    const n = now[i];
    const b = before[i];
    if (n === null || n === undefined || b === null || b === undefined || n < b) return null;
    sum += n - b;
  }
  return sum;
}

/** `delta` per second over `secs`; null when either is unknown. */
export const perSecond = (delta: number | null, secs: number): number | null => (delta === null || !(secs > 0) ? null : delta / secs);

/**
 * A stage stream's group `entries-read`: 0 before the group exists or while it was delivered
 * nothing (Redis reports nil for a group made at `0` until it reads), null when Redis cannot tell.
 */
export const readCount = (s: StreamStatus): number | null => {
  if (!s.group) return 0;
  return s.group.entriesRead ?? (s.group.lastDeliveredId === '0-0' ? 0 : null);
};
