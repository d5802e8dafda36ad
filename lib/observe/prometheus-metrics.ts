import { Counter, Histogram, type Registry } from 'prom-client';
import type { MetricSpec } from './metric-spec.js';
import { TIMER_BUCKETS_SECONDS } from './metric-spec.js';
import { prometheusName, type Metrics, type Tags } from './metrics.js';

/**
 * `specs` counted in this process as prom-client series of `registry`, under the names, labels and
 * types statsd_exporter gives them (deploy/statsd/mapping.yml): a counter `<name>_total`, a timer a
 * histogram `<name>_seconds` with TIMER_BUCKETS_SECONDS. Labels: each spec's tags (the registry's
 * default labels, `pipeline`, beside them). A name or type not in `specs` is ignored: only what
 * `specs` lists is served, and a tag the spec does not name is left off (prom-client throws on a
 * label it was not given, and a metrics call must never fail a request). Gauges and size
 * histograms are not kept (the API sends none).
 */
export function prometheusMetrics(registry: Registry, specs: readonly MetricSpec[], prefix: string): Metrics {
  const counters = new Map<string, Counter<string>>();
  const timers = new Map<string, Histogram<string>>();
  const labels = new Map(specs.map((s) => [s.name, s.tags] as const));
  const known = (name: string, tags: Tags): Tags => {
    const out: Tags = {};
    for (const k of labels.get(name) ?? []) if (tags[k] !== undefined) out[k] = tags[k];
    return out;
  };
  for (const s of specs) {
    const common = { name: prometheusName(s, prefix), help: s.help, labelNames: [...s.tags], registers: [registry] };
    if (s.type === 'counter') counters.set(s.name, new Counter(common));
    else if (s.type === 'timer') timers.set(s.name, new Histogram({ ...common, buckets: [...TIMER_BUCKETS_SECONDS] }));
  }
  return {
    increment: (name: string, value = 1, tags: Tags = {}) => counters.get(name)?.inc(known(name, tags), value),
    timing: (name: string, ms: number, tags: Tags = {}) => timers.get(name)?.observe(known(name, tags), ms / 1000),
    gauge() {},
    histogram() {},
    close: async () => {},
  };
}

/** Every call made to each of `sinks` (StatsD and the in-process series of `GET /metrics`): one caller decides once what is counted. */
export function teeMetrics(...sinks: Metrics[]): Metrics {
  return {
    increment: (n, v, t) => sinks.forEach((m) => m.increment(n, v, t)),
    timing: (n, ms, t) => sinks.forEach((m) => m.timing(n, ms, t)),
    gauge: (n, v, t) => sinks.forEach((m) => m.gauge(n, v, t)),
    histogram: (n, v, t) => sinks.forEach((m) => m.histogram(n, v, t)),
    close: async () => void (await Promise.all(sinks.map((m) => m.close()))),
  };
}
