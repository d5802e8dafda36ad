import { SampleTimeoutError } from './errors.js';

/** What a pass checks once its commands are answered: `up` set means it was given up, and its numbers are too old to act on. */
export interface GivenUp {
  up: boolean;
}

/**
 * A periodic pass over Redis (a gauge sample, an autoscaler pass) bounded in time. With Redis
 * down its commands wait in ioredis' offline queue for the reconnect, and the pass with them:
 * here a pass not done in `timeoutMs` is given up (SampleTimeoutError) and told so through
 * `given.up`, so it never acts on what comes back late. While a given-up pass still waits, the
 * next one is given up at once (SampleTimeoutError) instead of queueing more commands behind it.
 */
export class BoundedPass {
  /** A pass still running after it was given up. */
  private waiting?: { since: number };

  /** Run `pass`, or reject with SampleTimeoutError after `timeoutMs` (or at once, while a given-up pass still waits). */
  async run(pass: (given: GivenUp) => Promise<void>, timeoutMs: number): Promise<void> {
    if (this.waiting) throw new SampleTimeoutError(`the pass given up ${Date.now() - this.waiting.since} ms ago still waits for Redis`);
    const given: GivenUp = { up: false };
    const running = pass(given);
    const waiting = (this.waiting = { since: Date.now() });
    void running.finally(() => this.waiting === waiting && (this.waiting = undefined)).catch(() => {});
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new SampleTimeoutError(`no answer from Redis in ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([running, late]);
    } catch (err) {
      given.up = true;
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }
}
