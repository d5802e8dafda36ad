import type { StageOptions } from '../config/types.js';

type Timers = Pick<StageOptions, 'blockMs' | 'stallTimeoutMs' | 'watchdogIntervalMs' | 'keepClaimedMs' | 'claimMinIdleMs'>;

/**
 * The longest TTL the watchdog gives a consumer's liveness marker (lib/worker/watchdog.ts): it is
 * refreshed every `watchdogIntervalMs` while the read loop progresses, each time to expire
 * `blockMs + stallTimeoutMs` after the last progress, one interval later. A marker that is gone
 * means no beat for at least this long since the consumer's last progress.
 */
export function livenessTtlMs(s: Timers): number {
  return s.blockMs + s.stallTimeoutMs + s.watchdogIntervalMs;
}

/**
 * How long an entry of a consumer whose marker is gone must have been idle to be handed over
 * (lib/worker/liveness-handover.ts): the marker's TTL (an entry read later than the last beat of
 * a dead consumer qualifies one TTL after its read), and never less than twice `keepClaimedMs`,
 * so the entries of a batch running in a live process, whose idle time is reset every
 * `keepClaimedMs`, never qualify.
 */
export function lapsedMinIdleMs(s: Timers): number {
  return Math.max(livenessTtlMs(s), 2 * s.keepClaimedMs);
}

/**
 * The registration's TTL (`{p}:liveness:<stage>:<consumer>:registered`, rewritten with each beat):
 * past the marker's by `claimMinIdleMs`, after which the entries of a consumer gone are reclaimed
 * the usual way anyway; so it never outlives its use and needs no clean-up.
 */
export function registrationTtlMs(s: Timers): number {
  return lapsedMinIdleMs(s) + s.claimMinIdleMs;
}
