/**
 * What the alerting rules (deploy/render-alerts.ts) are built from: their windows, `for:` durations
 * and levels, and the PromQL helpers that take metric names from METRIC_CATALOG and narrow every
 * selector to one pipeline.
 */
import type { ResolvedConfig } from '../lib/config/types.js';
import { METRIC_CATALOG, prometheusName } from '../lib/observe/metrics.js';

/**
 * The windows and `for:` durations of the rules (Prometheus durations). Change them here and render
 * again, or edit the rendered file (docs/metrics-and-monitoring.md, "Alerts").
 */
export const ALERT_TIMING = {
  /** A counter of events that each need a look (OOM, MISCONF, NOPERM, stalls, dead letters) counts as risen for this long after its last rise. */
  eventWindow: '10m',
  /** The data-loss counter: its page stays up this long after the last rise. */
  dataLossWindow: '30m',
  /** An outage the workers wait out (Redis or PostgreSQL unavailable) is paged once it lasted this long: a failover or a restart takes seconds. */
  outageFor: '10m',
  /** The rate window of an outage counter: it counts as ongoing while it rose within this window, for `outageFor`. */
  outageRateWindow: '5m',
  /** A stage's lag above its `scaleUpLag` for this long: the autoscaler (or KEDA) did not catch up. */
  lagFor: '15m',
  /** A stage with a backlog and no consumer in its group for this long. */
  noConsumersFor: '10m',
  /** `pipeline up` running no worker for a stage with minWorkers above 0 for this long. */
  noWorkersFor: '5m',
  /** The window over which the DLQ's length must have grown. */
  dlqWindow: '15m',
  /** No backlog gauge from the sampler (`pipeline monitor` / `up`) for this long: the backlog alerts are blind. */
  samplerMissingFor: '10m',
  /** The HTTP API's share of 5xx answers (over `outageRateWindow`) above API_ERROR_SHARE for this long. */
  apiErrorsFor: '10m',
  /** A webhook's lag above its share of `limits.doneMaxLen` (ALERT_LEVELS) for this long: short beside the time the rest of the cap lasts. */
  webhookLagFor: '2m',
} as const;

/** The levels of the rules that are a share of a config limit. Change them here and render again, or edit the rendered file (docs/metrics-and-monitoring.md, "Alerts"). */
export const ALERT_LEVELS = {
  /**
   * A webhook's lag (`webhooks.lag`, summed over the shards) above this share of `limits.doneMaxLen`
   * (one `{p}:done` stream's cap) pages: past the cap, its oldest completions are trimmed unread.
   */
  webhookLagShare: 0.5,
} as const;

/** The share of the HTTP API's answers that may be 5xx before PipelineApiErrors fires (0.05: 5%). */
export const API_ERROR_SHARE = 0.05;

export type Severity = 'page' | 'ticket';

/** A rule's annotations use `{{ $labels.* }}` only (no `$value`): test/ops/alert-rules.test.ts expands them for promtool's expected alerts. */
export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels: { severity: Severity };
  annotations: { summary: string; description: string; runbook_url: string };
}

export const RELIABILITY = 'docs/reliability.md';
export const ALERTS_DOC = 'docs/metrics-and-monitoring.md#alerts';

/** A PromQL regex alternative of stage names (names may hold `.`), for `stage=~"..."`. */
export const stageRegex = (names: readonly string[]) => names.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\\\$&')).join('|');

/** The PromQL helpers of one config: metric names from the catalog, every selector narrowed to this pipeline. */
export function promql(config: ResolvedConfig) {
  const pipeline = `pipeline="${config.pipeline}"`;
  const name = (metric: string) => {
    const spec = METRIC_CATALOG.find((m) => m.name === metric);
    if (!spec) throw new Error(`alert rules: ${metric} is not in METRIC_CATALOG (lib/observe/metrics.ts)`);
    return prometheusName(spec, config.metrics.prefix);
  };
  const sel = (metric: string, matchers = '') => `${name(metric)}{${pipeline}${matchers ? `, ${matchers}` : ''}}`;
  const lag = sel('group.lag');
  /**
   * The counter rose within `window`. statsd_exporter creates a counter's series at its first
   * increment, so `increase()` (two samples needed) would miss the first event ever: a series that
   * exists now and did not `window` ago is one too, but only while Prometheus has history from then
   * (the sampler's lag gauge `window` ago), so a freshly started Prometheus does not fire on old counts.
   */
  const rose = (metric: string, window: string, by: string, matchers = '') => {
    const m = sel(metric, matchers);
    return (
      `sum by (${by}) (increase(${m}[${window}])) > 0 or ` +
      `(sum by (${by}) (${m} unless ${m} offset ${window}) and on (pipeline) group by (pipeline) (${lag} offset ${window}))`
    );
  };
  /** An outage counter that keeps rising: its rate over `outageRateWindow` above 0 (the rule's `for:` says for how long). */
  const rising = (metric: string) => `sum by (pipeline, stage) (rate(${sel(metric)}[${ALERT_TIMING.outageRateWindow}])) > 0`;
  return { sel, rose, rising, lag };
}

export const rule = (
  alert: string,
  severity: Severity,
  expr: string,
  summary: string,
  description: string,
  runbook: string,
  forDuration?: string,
): AlertRule => ({
  alert,
  expr,
  ...(forDuration ? { for: forDuration } : {}),
  labels: { severity },
  annotations: { summary, description, runbook_url: runbook },
});
