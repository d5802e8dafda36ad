export type MetricType = 'counter' | 'timer' | 'histogram' | 'gauge';

/** One metric the pipeline emits: the source of the docs/metrics-and-monitoring.md table, the statsd_exporter mapping and the dashboard checks. */
export interface MetricSpec {
  /** StatsD name without the prefix (`messages.in` → `pipeline.messages.in`). */
  name: string;
  type: MetricType;
  /** Tags beside the global ones (`pipeline`, `stage` in a worker, and `metrics.tags`). */
  tags: readonly string[];
  /** Which process sends it (`api`: the HTTP API server, `pipeline serve` and `up` / `start --serve`). */
  from: 'worker' | 'monitor' | 'supervisor' | 'webhooks' | 'api';
  help: string;
}

/**
 * The buckets, in seconds, of every timer as Prometheus sees it: statsd_exporter's histogram of a
 * StatsD timer (deploy/statsd/mapping.yml) and `pipeline serve`'s own on `GET /metrics`, so one
 * `histogram_quantile` reads either.
 */
export const TIMER_BUCKETS_SECONDS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
