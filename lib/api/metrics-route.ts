import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { ResolvedConfig } from '../config/types.js';
import { METRIC_CATALOG, prometheusName, type MetricSpec } from '../observe/metrics.js';
import { storeSink } from '../ops/inspect.js';
// Type-only: the samples come from the console's sampler, which the console plugin runs and passes in.
import type { ConsoleSample, ConsoleSampler } from '../console/sampler.js';
import { requireRole } from './auth.js';

const spec = (name: string): MetricSpec => {
  const s = METRIC_CATALOG.find((m) => m.name === name);
  if (!s) throw new Error(`metric ${name} is not in METRIC_CATALOG`);
  return s;
};

/**
 * `GET /metrics` of `pipeline serve` (`console.metrics`, on by default), registered by the console
 * plugin beside the sampler it reads: the registry below, served to the `read` role. A scrape before
 * the sampler's first sample takes one at once.
 */
export function registerMetricsRoute(app: FastifyInstance, config: ResolvedConfig, sampler: ConsoleSampler): void {
  const registry = createPrometheus(config, () => sampler.last, { requestMetrics: app.pipeline.requestMetrics });
  app.get('/metrics', { onRequest: requireRole('read'), schema: { hide: true } as never }, async (_req, reply) => {
    if (!sampler.last) await sampler.sampleOnce();
    return reply.type(registry.contentType).send(await registry.metrics());
  });
}

/**
 * The registry `GET /metrics` serves: prom-client gauges and counters filled from the console
 * sampler's latest sample at scrape time (no extra Redis round trip per scrape). Served: the
 * monitor's backlog gauges (stream.length, group.lag/pending/consumers, dlq.length,
 * revokes.marks, revoked.records, store.products) and messages.in / messages.out per stage, counted by Redis itself (the group's
 * entries-read, and entries-read minus pending), so the dashboard's backlog and throughput panels
 * work without StatsD; with `opts.requestMetrics`, the server's own request counts and timings
 * too (one process's: behind a load balancer Prometheus sums the servers). Per-batch timings and
 * error counters exist only in the workers' StatsD.
 */
export function createPrometheus(
  config: ResolvedConfig,
  latest: () => ConsoleSample | undefined,
  opts: { processMetrics?: boolean; requestMetrics?: Registry } = {},
): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ pipeline: config.pipeline });
  const prefix = config.metrics.prefix;
  const gauge = (name: string, labelNames: string[], fill: (g: Gauge<string>, s: ConsoleSample) => void) => {
    const m = spec(name);
    new Gauge({
      name: prometheusName(m, prefix),
      help: m.help,
      labelNames,
      registers: [registry],
      collect() {
        const s = latest();
        this.reset();
        if (s) fill(this, s);
      },
    });
  };
  gauge('stream.length', ['stream'], (g, s) => {
    for (const st of s.stages) g.set({ stream: st.stream }, st.length);
    for (const t of s.terminal) g.set({ stream: t.stream }, t.length);
  });
  gauge('group.lag', ['stage'], (g, s) => {
    for (const st of s.stages) if (st.lag !== null) g.set({ stage: st.stage }, st.lag);
  });
  gauge('group.pending', ['stage'], (g, s) => s.stages.forEach((st) => g.set({ stage: st.stage }, st.pending)));
  gauge('group.consumers', ['stage'], (g, s) => s.stages.forEach((st) => g.set({ stage: st.stage }, st.consumers)));
  gauge('dlq.length', [], (g, s) => g.set(s.dlq));
  gauge('revokes.marks', [], (g, s) => g.set(s.revokeMarks));
  gauge('revoked.records', [], (g, s) => g.set(s.revoked));
  // Only the Redis sink's products are counted: an unset gauge without labels reads 0, which another sink's store is not.
  if (storeSink(config) === 'redis') gauge('store.products', [], (g, s) => g.set(s.stored ?? 0));
  // Counters from Redis' own counts: increased by what Redis counted since the last scrape.
  const counter = (name: string, value: (t: NonNullable<ConsoleSample['totals']>[number]) => number | null) => {
    const m = spec(name);
    const seen = new Map<string, number>();
    /**
     * The group's entries-read and its stream's entries-added when last collected. The read count
     * goes down when the group was made again (a Redis restart without persistence: the stream's
     * count went down too) and when a master failed over and back (lib/stream/group-lag.ts: its
     * counter stayed short by every entry read on the other master, which were counted then).
     */
    const readAt = new Map<string, { read: number; added?: number }>();
    new Counter({
      name: prometheusName(m, prefix),
      help: `${m.help} (pipeline serve: counted by Redis, see docs/console.md)`,
      labelNames: ['stage'],
      registers: [registry],
      collect() {
        for (const t of latest()?.totals ?? []) {
          const v = value(t);
          if (v === null) continue;
          // Redis's count started again from 0: what it has now is all new (the counter froze
          // until the new count passed the old one). A dip without a reset (out = read - pending
          // while pending grows) is not counted twice.
          // A count gone down on a stream whose own count did not is a failed-back master's:
          // counted from there on (it had been a reset, the master's whole count counted again).
          const was = readAt.get(t.stage);
          const dip = t.read !== null && was !== undefined && t.read < was.read;
          const reset = dip && (t.added === undefined || was.added === undefined || t.added < was.added);
          if (t.read !== null) readAt.set(t.stage, { read: t.read, added: t.added });
          if (reset) seen.set(t.stage, 0);
          else if (dip) seen.set(t.stage, v);
          const d = v - (seen.get(t.stage) ?? 0);
          if (d > 0) this.inc({ stage: t.stage }, d);
          if (d > 0 || !seen.has(t.stage)) seen.set(t.stage, v);
          if (d === 0) this.inc({ stage: t.stage }, 0);
        }
      },
    });
  };
  counter('messages.in', (t) => t.read);
  counter('messages.out', (t) => (t.read === null ? null : t.read - t.pending));
  if (opts.processMetrics) collectDefaultMetrics({ register: registry });
  if (!opts.requestMetrics) return registry;
  // The HTTP API's request metrics, counted by this process as it answers (lib/api/request-metrics.ts);
  // a merged registry has no default labels of its own.
  const merged = Registry.merge([registry, opts.requestMetrics]);
  merged.setDefaultLabels({ pipeline: config.pipeline });
  return merged;
}
