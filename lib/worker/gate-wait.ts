import type { Keys } from '../redis/keys.js';

export interface GateWaitDeps {
  /** The loop waits on purpose: tell the watchdog (not a stall). */
  progress: () => void;
  /** True once shutdown began: the wait ends. */
  stopping: () => boolean;
  stage: { watchdogIntervalMs: number };
}

/**
 * A read loop's wait on purpose before it reads (a paused stage: pause-gate.ts; a rate limit:
 * rate-gate.ts): until a time or shutdown, telling the watchdog at least every `watchdogIntervalMs`
 * so the wait is not taken for a stall; `wakeUp` ends it early (stop).
 */
export class GateWait {
  private wake?: () => void;

  constructor(private readonly d: GateWaitDeps) {}

  /** Wait until `until` (a `performance.now()` time) unless stopping. */
  async until(until: number): Promise<void> {
    for (let left = until - performance.now(); left > 0 && !this.d.stopping(); left = until - performance.now()) {
      this.d.progress();
      await new Promise<void>((res) => {
        const timer = setTimeout(res, Math.min(left, this.d.stage.watchdogIntervalMs));
        this.wake = () => (clearTimeout(timer), res());
      });
      this.wake = undefined;
    }
    this.d.progress();
  }

  /** End a wait early (stop). */
  wakeUp(): void {
    this.wake?.();
  }
}

/** Where a gate's log line happened: stage, consumer and, sharded, the shard (each shard's loop says it). */
export const gateWhere = (stage: string, consumer: string, keys: Keys) => ({ stage, consumer, ...(keys.shard === undefined ? {} : { shard: keys.shard }) });
