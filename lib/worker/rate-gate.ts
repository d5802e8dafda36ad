import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';
import type { Logger } from '../observe/logger.js';
import type { Metrics } from '../observe/metrics.js';
import type { RateLimit } from '../config/rate-limit.js';
import { takeTokens } from '../stream/rate-bucket.js';
import { GateWait, gateWhere, type GateWaitDeps } from './gate-wait.js';

export interface RateGateDeps extends GateWaitDeps {
  redis: () => Redis;
  keys: Keys;
  stage: { name: string; batchSize: number; rateLimit?: RateLimit; rateLimitMaxWaitMs: number; watchdogIntervalMs: number };
  consumer: string;
  logger: Logger;
  metrics: Metrics;
}

/**
 * A stage's `rateLimit`, before each read of a consumer: how many records the next batch may hold
 * (retries, claimed and fresh entries alike), taken from the stage's token bucket in Redis
 * (lib/lua/rate-limit-1.lua, one per shard), so every worker of the stage shares it. None granted:
 * the loop waits what the bucket said (at most `rateLimitMaxWaitMs`; the watchdog is told every
 * `watchdogIntervalMs`, stop ends it) and asks again; the time is counted in `ratelimit.waited_ms`.
 * Tokens granted and not used (a read that delivered fewer entries) are put back at the next ask.
 * `stage.rate_limited` is logged when a wait begins after none for a whole window (not per batch).
 */
export class RateGate {
  /** Tokens taken and not used, put back at the next ask. */
  private unused = 0;
  /** When the last wait ended (performance.now()); -Infinity: never waited. */
  private waitedAt = -Infinity;
  private readonly waiting: GateWait;

  constructor(private readonly d: RateGateDeps) {
    this.waiting = new GateWait(d);
  }

  /** The records the next batch may hold: `batchSize` when the stage has no limit; 0 after a wait (ask again). */
  async take(): Promise<number> {
    const { stage } = this.d;
    if (!stage.rateLimit || this.d.stopping()) return stage.batchSize;
    const returned = this.unused;
    this.unused = 0;
    const { granted, waitMs } = await takeTokens(this.d.redis(), this.d.keys.rateLimit(stage.name), stage.rateLimit, stage.batchSize, returned);
    if (granted > 0) return granted;
    await this.wait(Math.max(1, Math.min(waitMs, stage.rateLimitMaxWaitMs)));
    return 0;
  }

  /** Of the tokens `take` granted, `n` were not used (fewer entries than granted): put back at the next ask. */
  giveBack(n: number): void {
    if (this.d.stage.rateLimit && n > 0) this.unused += n;
  }

  /** End a wait early (stop). */
  wakeUp(): void {
    this.waiting.wakeUp();
  }

  private async wait(ms: number): Promise<void> {
    const { stage, logger, metrics } = this.d;
    const limit = stage.rateLimit!;
    const started = performance.now();
    if (started - this.waitedAt > limit.perMs) {
      logger.info('stage.rate_limited', { ...gateWhere(stage.name, this.d.consumer, this.d.keys), records: limit.records, perMs: limit.perMs, waitMs: ms });
    }
    await this.waiting.until(started + ms);
    this.waitedAt = performance.now();
    metrics.increment('ratelimit.waited_ms', Math.round(this.waitedAt - started), { stage: stage.name });
  }
}
