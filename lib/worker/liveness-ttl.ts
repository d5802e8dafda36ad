import type { StageOptions } from '../config/types.js';

type Timers = Pick<StageOptions, 'blockMs' | 'stallTimeoutMs' | 'watchdogIntervalMs' | 'aliveTtlMs' | 'claimMinIdleMs'>;

/**
 * The longest TTL the watchdog gives a consumer's liveness marker (lib/worker/watchdog.ts): it is
 * refreshed every `watchdogIntervalMs` while the read loop progresses, each time to expire
 * `blockMs + stallTimeoutMs` after the last progress, one interval later. A marker that is gone
 * means no progress for at least this long: what `pipeline health` reports, not what a hand-over needs.
 */
export function livenessTtlMs(s: Timers): number {
  return s.blockMs + s.stallTimeoutMs + s.watchdogIntervalMs;
}

/**
 * How long an entry of a consumer whose alive key is gone must have been idle to be handed over
 * (lib/worker/liveness-handover.ts): the alive key's TTL. The key is rewritten every
 * `watchdogIntervalMs` whatever the read loop does, so it is gone only when the process made no
 * beat for `aliveTtlMs`: killed, or its event loop blocked (which also stops it reading and
 * resetting its entries' idle time). An entry it read since it came back, a beat later at most,
 * is fresher than this and left alone. A dead process's entries qualify `aliveTtlMs` after its
 * death at the latest, when its key is gone too.
 */
export function lapsedMinIdleMs(s: Timers): number {
  return s.aliveTtlMs;
}

/**
 * The registration's TTL (`{p}:liveness:<stage>:<consumer>:registered`, rewritten with each beat):
 * past the alive key's by `claimMinIdleMs`, after which the entries of a consumer gone are reclaimed
 * the usual way anyway; so it never outlives its use and needs no clean-up.
 */
export function registrationTtlMs(s: Timers): number {
  return lapsedMinIdleMs(s) + s.claimMinIdleMs;
}
