import type { Logger } from '../observe/logger.js';
import type { Metrics } from '../observe/metrics.js';

/** How a step that waits out a Redis outage in place retries, says so and counts it (completions before a hand-off, a worker's start-up). */
export interface OutageWaitOptions {
  /** Backoff between tries (doubling, jittered): the stage's `retryBaseMs` / `retryMaxMs`. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** Give up once this is true (the worker is stopping). */
  stopping: () => boolean;
  /** Told of each transient error before the wait (the caller's liveness: waiting out an outage is no stall). @defaultValue none */
  onRetry?: (err: unknown) => void;
  logger: Logger;
  metrics: Metrics;
  tags: Record<string, string>;
}
