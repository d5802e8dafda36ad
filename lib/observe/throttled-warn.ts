import type { LogFields, Logger } from './logger.js';

/**
 * A failure that repeats while an outage lasts (a connection's errors, a reclaimer's passes) said
 * without flooding the log: the first one at once, then at most one warn line per event every
 * `everyMs`, each with `failures`, how many happened since the previous line (this one included),
 * so none goes unsaid. The caller counts each one in its metric too.
 */
export class ThrottledWarn {
  private readonly last = new Map<string, { at: number; failures: number }>();

  constructor(
    private readonly logger: Logger,
    private readonly everyMs: number,
  ) {}

  /** One more failure of `event`: logged now if none was in the last `everyMs`; else counted for the next line. */
  warn(event: string, fields: LogFields, now = Date.now()): void {
    const seen = this.last.get(event);
    if (seen && now - seen.at < this.everyMs) {
      seen.failures++;
      return;
    }
    this.last.set(event, { at: now, failures: 0 });
    this.logger.warn(event, { ...fields, failures: (seen?.failures ?? 0) + 1 });
  }

  /** The outage ended: the next failure of `event` is said at once. */
  reset(event: string): void {
    this.last.delete(event);
  }
}
