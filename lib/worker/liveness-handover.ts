import type { Redis } from 'ioredis';
import type { ResolvedStage } from '../config/types.js';
import type { Logger } from '../observe/logger.js';
import type { Metrics } from '../observe/metrics.js';
import type { Keys } from '../redis/keys.js';
import { handOverConsumer } from '../stream/hand-over-dead.js';
import { lapsedMinIdleMs } from './liveness-ttl.js';
import { isNoGroup } from '../core/redis-replies.js';

/** What a pass needs: the reclaimer's consumer and its shard's keys. */
export interface LapsedDeps {
  stage: ResolvedStage;
  keys: Keys;
  /** The consumer running the pass: never handed over by itself. */
  consumer: string;
  logger: Logger;
  metrics: Metrics;
  /** Asked after the alive keys are read: true hands nothing over (lib/worker/reclaimer.ts: this process's connections just had trouble). @defaultValue never */
  unsettled?: () => boolean;
}

/** XPENDING's summary: count, smallest id, largest id, [consumer, count] per consumer with entries (null when none). */
type PendingSummary = [number, string | null, string | null, [string, string][] | null];

/**
 * Hand over the entries of consumers of the group that stopped beating (lib/worker/reclaimer.ts
 * runs it, every `livenessHandoverMs` at most): a consumer holding pending entries whose alive key
 * (`{p}:liveness:<stage>:<consumer>:alive`, rewritten every `watchdogIntervalMs` with a TTL of
 * `aliveTtlMs`, whatever its read loop does) is gone while its registration (`...:registered`,
 * written with each beat, with a longer TTL: lib/lua/liveness-3.lua) stays. That is a process killed
 * outside `pipeline up` (SIGKILL, OOM kill, node loss), or one whose event loop was blocked for
 * `aliveTtlMs` (SIGSTOP, a long synchronous call). Not the stall marker (`{p}:liveness:<stage>:<consumer>`,
 * what `pipeline health` reads): it lives `blockMs + stallTimeoutMs` after the last progress, longer
 * than `claimMinIdleMs` by default, and lapses for a live process busy with a long batch.
 * A consumer without a registration (an older release, or one gone longer than the registration
 * lives) is left to `claimMinIdleMs`, as before.
 *
 * Its entries go through the supervisor's path (lib/stream/hand-over-dead.ts,
 * hand-over-dead-1.lua), only those idle at least `lapsedMinIdleMs` (`aliveTtlMs`): an entry read
 * since the process came back under that name (its beat comes with it) is left alone. The
 * caller's claim (claim-3.lua) then takes them and moves the group's fence, so a blocked consumer
 * that wakes up checks each message at hand-off and writes none of them again. Returns how many
 * entries were made claimable.
 */
export async function handOverLapsed(redis: Redis, source: string, d: LapsedDeps): Promise<number> {
  const { stage, keys } = d;
  const minIdleMs = lapsedMinIdleMs(stage);
  // Nothing to gain: the entries are claimable the usual way as soon as they would be here.
  if (minIdleMs >= stage.claimMinIdleMs) return 0;
  let summary: PendingSummary;
  try {
    summary = (await redis.xpending(source, stage.name)) as PendingSummary;
  } catch (err) {
    if (isNoGroup(err)) return 0;
    throw err;
  }
  const holders = (summary[3] ?? []).filter(([name, n]) => name !== d.consumer && Number(n) > 0).map(([name]) => name);
  if (holders.length === 0) return 0;
  // The alive key first: a consumer that beats between the two reads shows as lapsed, and its entries,
  // fresh, are not idle long enough to be touched.
  const alive = await Promise.all(holders.map((c) => redis.get(keys.livenessAlive(stage.name, c))));
  const registered = await Promise.all(holders.map((c, i) => (alive[i] === null ? redis.get(keys.livenessRegistration(stage.name, c)) : null)));
  if (d.unsettled?.()) return 0;
  let total = 0;
  for (const [i, consumer] of holders.entries()) {
    if (alive[i] !== null || registered[i] === null) continue;
    const entries = await handOverConsumer(redis, {
      stream: source,
      group: stage.name,
      consumer,
      claimMinIdleMs: stage.claimMinIdleMs,
      minIdleMs: () => minIdleMs,
    });
    if (entries === 0) continue;
    total += entries;
    d.metrics.increment('reclaim.handed_over', entries, { stage: stage.name });
    d.logger.info('reclaim.handed_over', { lapsed: consumer, entries, minIdleMs, stream: source });
  }
  return total;
}
