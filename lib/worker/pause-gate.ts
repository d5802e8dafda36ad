import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';
import type { Logger } from '../observe/logger.js';
import { readPause, type PauseRecord } from '../stream/pause-flag.js';
import { GateWait, gateWhere, type GateWaitDeps } from './gate-wait.js';
import type { RevokeList } from '../stream/revokes.js';

export interface PauseGateDeps extends GateWaitDeps {
  redis: () => Redis;
  keys: Keys;
  stage: { name: string; pausePollMs: number; watchdogIntervalMs: number };
  consumer: string;
  logger: Logger;
  /** Revoked ids (`pipeline revoke`), read with the flag in the same round trip. @defaultValue none */
  revokes?: RevokeList;
}

/**
 * Between batches, a consumer asks the gate whether its stage is paused (`pipeline pause`): the
 * flag is read at most every `pausePollMs`; while it is set the loop reads nothing, runs no retry
 * and its reclaimer claims nothing, and the wait counts as progress for the watchdog (told every
 * `watchdogIntervalMs`). `stage.paused` and `stage.resumed` are logged once per change.
 * Each read of the flag also reads the revokes made since the last (lib/stream/revokes.ts), on
 * the same auto-pipelined connection: a revoke is seen within `pausePollMs`, paused or not.
 */
export class PauseGate {
  /** The flag as last read; undefined: not paused. */
  paused?: PauseRecord;
  private checkedAt = -Infinity;
  private checking?: Promise<void>;
  private readonly waiting: GateWait;

  constructor(private readonly d: PauseGateDeps) {
    this.waiting = new GateWait(d);
  }

  /** True when the loop must not read now (it waited `pausePollMs`, or less when woken); false to go on. */
  async hold(): Promise<boolean> {
    if (this.d.stopping()) return false;
    if (performance.now() - this.checkedAt >= this.d.stage.pausePollMs) await this.check();
    if (!this.paused) return false;
    // Waiting on purpose: progress for the watchdog at least every watchdogIntervalMs, whatever pausePollMs is.
    // Until the next read is due (the reclaimer may have read the flag meanwhile: current()), so a resume is seen within pausePollMs.
    await this.waiting.until(this.checkedAt + this.d.stage.pausePollMs);
    return true;
  }

  /**
   * The flag now, for the reclaimer: as last read when that was less than `pausePollMs` ago, else
   * read again. Its first pass runs at start, before the read loop's first look at the flag: a
   * worker (re)started while its stage is paused must not take over a dead consumer's entries then.
   */
  async current(): Promise<PauseRecord | undefined> {
    if (performance.now() - this.checkedAt >= this.d.stage.pausePollMs) await this.check();
    return this.paused;
  }

  /** End a wait early (stop). */
  wakeUp(): void {
    this.waiting.wakeUp();
  }

  /** One read at a time (the loop and the reclaimer may ask together): `stage.paused` is said once. */
  private check(): Promise<void> {
    this.checking ??= this.read().finally(() => (this.checking = undefined));
    return this.checking;
  }

  private async read(): Promise<void> {
    const { stage, consumer, logger } = this.d;
    const redis = this.d.redis();
    const [now] = await Promise.all([readPause(redis, this.d.keys, stage.name), this.d.revokes?.poll(redis)]);
    this.checkedAt = performance.now();
    const where = gateWhere(stage.name, consumer, this.d.keys);
    if (now && !this.paused) logger.info('stage.paused', { ...where, by: now.by, at: now.at, ...(now.reason ? { reason: now.reason } : {}) });
    if (!now && this.paused) logger.info('stage.resumed', { ...where, pausedMs: Date.now() - this.paused.at });
    this.paused = now;
  }
}
