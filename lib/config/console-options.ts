/**
 * The console's timers and caps: every one an option, set by the config's `console` section (so
 * `pipeline serve`, `up --serve` and `start --serve` take them) and by the plugin's options over it;
 * documented in docs/console.md#options. Here, in the config layer, so the config loader checks the
 * section; lib/console/options.ts re-exports them.
 */
export interface ConsoleOptions {
  /** How often the sampler reads the pipeline (SSE updates, chart points, /metrics freshness). @defaultValue 5000 */
  sampleIntervalMs: number;
  /** How much history the charts keep in Redis (`{p}:console:stats`, capped at historyMs / sampleIntervalMs entries). @defaultValue 3600000 */
  historyMs: number;
  /** Newest entries kept per stream for the p50/p99 figures (each sample reads only the new ones). @defaultValue 100 */
  latencySampleSize: number;
  /** An SSE stream sends a comment line this often, so proxies keep it open. @defaultValue 15000 */
  sseHeartbeatMs: number;
  /** Most dead letters one "replay all of a reason" or "purge" acts on. @defaultValue 10000 */
  maxBulk: number;
  /** `{p}:console:audit` is capped at about this many actions. @defaultValue 10000 */
  auditMaxLen: number;
  /** Longest wait for the sampler's PING asking whether Redis refuses writes (MISCONF, the amber banner); unanswered, the sample goes on without it. @defaultValue 1000 */
  writeRefusalTimeoutMs: number;
  /** Serve `GET /metrics` (Prometheus text format). @defaultValue true */
  metrics: boolean;
}

export const CONSOLE_DEFAULTS: ConsoleOptions = {
  sampleIntervalMs: 5000,
  historyMs: 3_600_000,
  latencySampleSize: 100,
  sseHeartbeatMs: 15_000,
  maxBulk: 10_000,
  auditMaxLen: 10_000,
  writeRefusalTimeoutMs: 1000,
  metrics: true,
};
