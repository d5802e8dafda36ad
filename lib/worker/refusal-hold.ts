import { classify } from '../core/failure-policy.js';

/**
 * The reclaimer's hold after Redis refused writes while staying connected (MISCONF: it cannot
 * persist). Throughout such an outage no consumer can keep its entries claimed (the idle-time reset,
 * XCLAIM, is a write) nor beat (its alive key is written by a function), so once writes are taken
 * again a live consumer's waiting entries look idle past `claimMinIdleMs` and its alive key may have
 * lapsed; a sibling's claim would take them from it and count a delivery the outage caused. So after
 * a refusal the reclaimer takes nothing over (its claim still runs, as a probe that claims nothing,
 * to see writes come back) until `holdMs` after writes were taken again: time for every live owner
 * to reset its entries (keepClaimedMs < claimMinIdleMs) and beat (watchdogIntervalMs < aliveTtlMs).
 * A connection outage needs none of this for the lapsed hand-over (`unsettled`: the connections'
 * own trouble), and OOM none at all (XCLAIM and the beat run at maxmemory).
 */
export class RefusalHold {
  /** When a step was last refused so (Date.now()); 0 when not holding. */
  private refusedAt = 0;
  /** When a probe first went through after the last refusal; 0 while none has. */
  private writableAt = 0;

  constructor(
    /** How long after writes come back nothing is taken over: max(claimMinIdleMs, aliveTtlMs). */
    private readonly holdMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** A step of the reclaimer failed with `err`: a MISCONF refusal starts (or extends) the hold; true then. */
  refused(err: unknown): boolean {
    if (classify(err).outage !== 'redis_misconf') return false;
    this.refusedAt = this.now();
    this.writableAt = 0;
    return true;
  }

  /** A write of the reclaimer went through: writes are back (the hold ends `holdMs` later). */
  wrote(): void {
    if (this.refusedAt > 0 && this.writableAt === 0) this.writableAt = this.now();
  }

  /** Whether to take nothing over now (claims probe only; no lapsed hand-over). */
  holding(): boolean {
    if (this.refusedAt === 0) return false;
    if (this.writableAt === 0 || this.now() - this.writableAt < this.holdMs) return true;
    this.refusedAt = 0;
    this.writableAt = 0;
    return false;
  }
}
