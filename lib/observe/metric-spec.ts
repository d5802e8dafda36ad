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
