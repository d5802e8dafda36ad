import { StatsD } from 'hot-shots';
import type { MetricsSettings } from '../config/types.js';
import type { Logger } from './logger.js';
import { API_METRICS } from './api-metric-specs.js';
import type { MetricSpec, MetricType } from './metric-spec.js';

export type { MetricSpec, MetricType } from './metric-spec.js';

export type Tags = Record<string, string>;

/** The metric calls the runtime makes. Every name is in `METRIC_CATALOG` and docs/metrics-and-monitoring.md. */
export interface Metrics {
  increment(name: string, value?: number, tags?: Tags): void;
  timing(name: string, ms: number, tags?: Tags): void;
  gauge(name: string, value: number, tags?: Tags): void;
  histogram(name: string, value: number, tags?: Tags): void;
  close(): Promise<void>;
}

export const noopMetrics: Metrics = {
  increment() {},
  timing() {},
  gauge() {},
  histogram() {},
  close: async () => {},
};

const w = (name: string, type: MetricType, help: string, tags: string[] = ['stage']): MetricSpec => ({ name, type, tags, from: 'worker', help });

/** Tags of the webhook metrics beside `webhook`. */
const WEBHOOK_TAGS: Record<string, string[]> = { 'webhooks.dead_lettered': ['webhook', 'reason'], 'webhooks.read_errors': ['webhook', 'cause'] };

/** What `pipeline webhooks` sends (lib/webhooks/), tagged with the webhook's name. */
const webhookMetrics = (): MetricSpec[] =>
  (
    [
      [
        'webhooks.delivered',
        'counter',
        'completions POSTed to a webhook and answered 2xx (then acked; or redelivered from {p}:webhooks:dlq by `pipeline webhooks dlq redeliver`)',
      ],
      ['webhooks.retries', 'counter', 'webhook attempts that failed (408, 429, 5xx, timeout, network error) and are tried again after a backoff'],
      ['webhooks.dead_lettered', 'counter', 'completions given up on, by reason (refused: a 4xx; attempts: maxAttempts used up), written to {p}:webhooks:dlq'],
      ['webhooks.missed', 'counter', 'completions trimmed from {p}:done before the webhook group read them (it fell behind by more than limits.doneMaxLen)'],
      ['webhooks.latency_ms', 'timer', 'from the completion (its {p}:done entry) to the 2xx of its webhook, retries included'],
      [
        'webhooks.read_errors',
        'counter',
        "errors of a webhook reader's Redis commands (read, claim, ack), by cause (an outage such as redis_misconf or connection, redis_noperm, nogroup, unexpected): waited out with the webhook's backoff",
      ],
    ] as const
  ).map(([name, type, help]) => ({ name, type, tags: WEBHOOK_TAGS[name] ?? ['webhook'], from: 'webhooks', help }));

/**
 * Every metric name the runtime sends. Workers tag everything with `stage`; the sampler
 * (`pipeline up` or `pipeline monitor`, one per pipeline) sends the backlog gauges.
 */
export const METRIC_CATALOG: readonly MetricSpec[] = [
  w('messages.in', 'counter', 'messages a stage read and decoded (per batch, summed)'),
  w('messages.out', 'counter', 'messages handed off (forwarded, stored or dead-lettered) and acked, not counting duplicates'),
  w('messages.errors', 'counter', 'per-message stage failures (each is retried or dead-lettered)'),
  w('messages.retries', 'counter', 'failed messages scheduled for another attempt'),
  w(
    'messages.deferred',
    'counter',
    'messages not run this time because another message of their batch hung past stageTimeoutMs first (logged as stage.deferred naming it): retried without a delivery counted, not in messages.errors or messages.retries',
  ),
  w('messages.routed', 'counter', 'messages forwarded, by target stream(s) (`a+b` for fan-out)', ['stage', 'route']),
  w(
    'messages.fused',
    'counter',
    'messages a stage ran fused, in the batch of another stage of its process (also in messages.in; their hand-off counts in that stage’s messages.out)',
  ),
  w('messages.fused_fallback', 'counter', 'messages a fused run failed on (error, timeout, no route), written to the stage’s stream for its own consumer'),
  w(
    'messages.dead_lettered',
    'counter',
    'messages sent to the DLQ, by reason (max_deliveries, permanent_error, undecodable, no_route, unwritable_target; purged: a stage purge, sent by `pipeline purge` or the API server that ran it)',
    ['stage', 'reason'],
  ),
  w(
    'messages.revoked',
    'counter',
    'messages acked unprocessed because their id was revoked (`pipeline revoke`), logged as message.revoked; their trip ends revoked',
  ),
  w('messages.duplicates_suppressed', 'counter', 'hand-offs skipped because another consumer had already acked the entry'),
  w('messages.reclaimed', 'counter', 'entries claimed from idle or dead consumers (XAUTOCLAIM)'),
  w('batch.size', 'histogram', 'messages per batch (what one XREADGROUP returned)'),
  w('batch.process_ms', 'timer', 'time in the stage for one batch: for model stages, the model call'),
  w('batch.total_ms', 'timer', 'read to hand-off for one batch (decode, stage, routing, Lua hand-off)'),
  w('batch.errors', 'counter', 'batches whose stage call threw (every message of it fails)'),
  w('batch.transient_retries', 'counter', 'batches retried in place because a dependency was down (every message failed transiently)'),
  w('stage.timeouts', 'counter', 'stage calls abandoned at stageTimeoutMs (the batch is retried with a delivery counted; the call may still be running)'),
  w('batch.isolated', 'counter', 'failed batches re-run one message at a time to find the bad one'),
  w('store.stale_dropped', 'counter', 'deliveries older than the stored version of their product, dropped by the sink (newest wins by input entry id)'),
  w(
    'store.not_pending_skipped',
    'counter',
    'store deliveries the Redis sink did not write: no longer pending in their group (a write retried onto a promoted replica)',
  ),
  w('match.rechecked', 'counter', 'records the match stage re-checked once a shard it had matched them against a stale copy of caught up'),
  w('match.recheck_corrected', 'counter', 'of those, records found to have a twin on that shard and handed on again with duplicateOf (once per record)'),
  w('match.recheck_dropped', 'counter', 'records not kept for a re-check: over settings.recheck.maxPending of their shard (the oldest go)'),
  w('message.e2e_ms', 'timer', 'end to end: produced to handed off by the sink stage (per message, at the sink)'),
  w('handoff.errors', 'counter', 'failed hand-off scripts (transient ones are retried)'),
  w(
    'handoff.unexpected_acked',
    'counter',
    'entries of a fenced hand-off that were acked outside the pipeline (XACK, XGROUP SETID) while a consumer held them; forwarded anyway',
  ),
  w('keep_claimed.errors', 'counter', 'failed idle-time resets (XCLAIM JUSTID every keepClaimedMs) of a running batch'),
  w('retry_count.errors', 'counter', "failed writes of a retried entry's attempt number into the group (XCLAIM RETRYCOUNT)"),
  w('completions.errors', 'counter', 'failed writes of a completion ({p}:done, {p}:status:<id>) before a hand-off'),
  w('consumer.loop_errors', 'counter', 'errors caught by the read loop (it backs off and goes on)'),
  w('consumer.drain_timeouts', 'counter', 'shutdowns whose batch in flight outlived drainTimeoutMs (it stays pending, reclaimed later)'),
  w('ratelimit.waited_ms', 'counter', "ms the stage's consumers waited on its rateLimit, granted no record (summed over waits; lag grows meanwhile)"),
  w('consumers.removed', 'counter', 'gone consumers (idle, owning nothing) removed from the group'),
  w(
    'reclaim.handed_over',
    'counter',
    'pending entries of consumers whose alive key lapsed (a process killed outside pipeline up) made claimable at once (not after claimMinIdleMs)',
  ),
  w('watchdog.stalls', 'counter', 'read loop made no progress for blockMs + stallTimeoutMs, by phase', ['stage', 'phase']),
  w('watchdog.recoveries', 'counter', 'stalls recovered by resetting a half-open connection, by phase', ['stage', 'phase']),
  w('watchdog.errors', 'counter', 'failed writes of the liveness marker'),
  w(
    'redis.oom',
    'counter',
    'Redis refused a write with OOM (maxmemory reached under noeviction): the batch waits in place, nothing is dead-lettered (a starting worker waits to join its group); alert on it',
  ),
  w(
    'redis.misconf',
    'counter',
    'Redis refused a write with MISCONF (it cannot persist to disk: a failed RDB save, e.g. a full disk, or a failed AOF write): the batch waits in place, nothing is dead-lettered; alert on it, free the disk (the Redis log names the error)',
  ),
  w(
    'redis.unavailable',
    'counter',
    'Redis answered LOADING, BUSY, TRYAGAIN, CLUSTERDOWN, MASTERDOWN, READONLY or NOREPLICAS (restart, failover, script): the batch waits in place',
  ),
  w(
    'redis.noperm',
    'counter',
    "Redis refused a command or key for the worker's ACL user (NOPERM: users applied by an older release or another config): the step waits in place, nothing is dead-lettered; run `pipeline acl --apply`",
  ),
  w(
    'redis.data_lost',
    'counter',
    "Redis lost the pipeline's data (restarted empty without the AOF, a failover that lost writes): the worker's consumer group vanished or the data-loss marker {p}:epoch went or changed (stage api: the API server's own watch of the marker); recorded in {p}:data-lost until acknowledged; alert on it",
    ['stage', 'what'],
  ),
  w(
    'redis.eviction_policy',
    'counter',
    "a worker's policy watch (every dataLossCheckMs) read an allkeys-* maxmemory-policy, set at run time: Redis may evict streams, pending entries and stored products without an error; counted on every check while it lasts; alert on it",
    ['stage', 'policy'],
  ),
  w(
    'store.marker_errors',
    'counter',
    'reprocess markers a sink other than Redis could not delete after its commit (the products are stored; the markers expire)',
  ),
  w('postgres.unavailable', 'counter', 'the Postgres sink was unreachable, restarting or overloaded: the batch waits in place'),
  w(
    'postgres.noperm',
    'counter',
    "PostgreSQL refused the store's database role (42501 a privilege missing, 28000/28P01 credentials): the batch waits in place, nothing is dead-lettered; GRANT what docs/data-store.md lists",
  ),
  w('network.unavailable', 'counter', 'a dependency connection dropped or timed out during a batch or hand-off: waited out in place'),
  w('dependency.unavailable', 'counter', 'a stage raised TransientError for an outage of its own dependency: the batch waits in place'),
  w('redis.connection_errors', 'counter', 'Redis connection errors (the connection reconnects with backoff)'),
  w('reclaim.errors', 'counter', 'failed reclaimer steps', ['stage', 'step']),
  w('reclaim.deleted', 'counter', 'pending entries whose data had been trimmed (dropped from the PEL by XAUTOCLAIM)'),
  w('stream.trimmed', 'counter', 'acked entries trimmed from the stage input stream'),
  { name: 'stream.length', type: 'gauge', tags: ['stream'], from: 'monitor', help: 'XLEN of each stage input and terminal stream' },
  {
    name: 'group.lag',
    type: 'gauge',
    tags: ['stage'],
    from: 'monitor',
    help: 'entries not yet delivered to the stage group (XINFO GROUPS lag, counted after last-delivered-id up to 1,000 when Redis reports none; the stream length before the group exists)',
  },
  { name: 'group.pending', type: 'gauge', tags: ['stage'], from: 'monitor', help: 'delivered, not yet acked entries of the stage group' },
  {
    name: 'group.consumers',
    type: 'gauge',
    tags: ['stage'],
    from: 'monitor',
    help: 'consumers in the stage group (a cleanly stopped worker leaves at once; a crashed one stays until consumerIdleRemoveMs)',
  },
  { name: 'dlq.length', type: 'gauge', tags: [], from: 'monitor', help: 'entries in the dead-letter stream' },
  { name: 'revokes.marks', type: 'gauge', tags: [], from: 'monitor', help: 'revoke marks outstanding (pipeline revoke): entries of {p}:revokes' },
  { name: 'revoked.records', type: 'gauge', tags: [], from: 'monitor', help: 'records that ended revoked, all time (the counter {p}:revoked)' },
  {
    name: 'webhooks.lag',
    type: 'gauge',
    tags: ['webhook'],
    from: 'monitor',
    help: 'completions on {p}:done not yet read by the webhook group, summed over the shards (read as group.lag is; none sent before the group exists): a receiver down, or too few `pipeline webhooks`; past limits.doneMaxLen the oldest are trimmed unread (webhooks.missed)',
  },
  {
    name: 'stream.trimmed_by_age',
    type: 'counter',
    tags: ['stream'],
    from: 'monitor',
    help: 'review / DLQ entries removed for being older than streams.terminalMaxAgeMs / dlqMaxAgeMs',
  },
  { name: 'store.products', type: 'gauge', tags: [], from: 'monitor', help: 'products in the Redis store (SCARD of the key set)' },
  {
    name: 'gauges.errors',
    type: 'counter',
    tags: [],
    from: 'monitor',
    help: 'failed gauge samples, unanswered within metrics.sampleTimeoutMs included (the next interval tries again)',
  },
  { name: 'workers', type: 'gauge', tags: ['stage'], from: 'supervisor', help: 'worker processes `pipeline up` runs for the stage' },
  {
    name: 'autoscale.decisions',
    type: 'counter',
    tags: ['stage', 'direction'],
    from: 'supervisor',
    help: 'autoscaler actions, direction up or down (once for each stage of the process moved)',
  },
  {
    name: 'autoscale.errors',
    type: 'counter',
    tags: [],
    from: 'supervisor',
    help: 'skipped autoscaler passes: failed, or unanswered within one interval (Redis down); no decision taken, the next interval tries again',
  },
  {
    name: 'autoscale.rate_bound',
    type: 'gauge',
    tags: ['stage'],
    from: 'supervisor',
    help: '1 while the autoscaler adds no worker to the stage because its rateLimit is used up by the workers it has (lag high), else 0; sent every autoscaler pass',
  },
  { name: 'supervisor.restarts', type: 'counter', tags: ['stage'], from: 'supervisor', help: 'crashed workers restarted' },
  {
    name: 'supervisor.handed_over',
    type: 'counter',
    tags: ['stage'],
    from: 'supervisor',
    help: 'pending entries of a worker process that exited made claimable at once (not after claimMinIdleMs)',
  },
  w('process.rss_mb', 'gauge', 'resident memory of the worker process, MB (every metrics.gaugeIntervalMs)', ['stage', 'consumer']),
  w('process.heap_used_mb', 'gauge', 'V8 heap in use in the worker process, MB', ['stage', 'consumer']),
  w('process.cpu_percent', 'gauge', 'CPU of the worker process over the interval, % of one core', ['stage', 'consumer']),
  w('process.event_loop_p99_ms', 'gauge', 'event-loop delay of the worker process over the interval, p99 (every stage of the process waits this long)', [
    'stage',
    'consumer',
  ]),
  w('process.event_loop_max_ms', 'gauge', 'worst event-loop delay of the worker process over the interval (a stall: GC, a long synchronous call)', [
    'stage',
    'consumer',
  ]),
  ...webhookMetrics(),
  ...API_METRICS,
  { name: 'logs.dropped', type: 'counter', tags: [], from: 'worker', help: 'log lines not written to the Redis log stream (buffer full or XADD failed)' },
];

/**
 * The Prometheus name statsd_exporter gives a metric under deploy/statsd/mapping.yml, and the name
 * `pipeline serve`'s `/metrics` gives it, so one dashboard reads either: the name hot-shots sends
 * (the prefix gets a `.` when it lacks one: `enrich` + `group.lag` → `enrich.group.lag`) with
 * anything but letters, digits and `_` as `_`; counters end `_total`, timers (histograms in
 * seconds there) `_ms` → `_seconds`.
 */
export function prometheusName(spec: Pick<MetricSpec, 'name' | 'type'>, prefix: string): string {
  const base = `${prefix}${prefix && !prefix.endsWith('.') ? '.' : ''}${spec.name}`.replace(/[^A-Za-z0-9_]/g, '_');
  if (spec.type === 'counter') return `${base}_total`;
  if (spec.type === 'timer') return `${base.replace(/_ms$/, '')}_seconds`;
  return base;
}

/** `k:v,k2:v2` (STATSD_TAGS) → tags. Entries without a colon are ignored. */
export function parseTags(s: string): Tags {
  const tags: Tags = {};
  for (const part of s.split(',')) {
    const i = part.indexOf(':');
    if (i > 0) tags[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return tags;
}

/**
 * StatsD over UDP through hot-shots. Sending is fire-and-forget and buffered (one datagram per
 * `maxBufferBytes` or per `flushIntervalMs`): a metrics error is logged at most once a minute and
 * never reaches the data path. Global tags: `settings.tags` (config `metrics.tags`, env
 * STATSD_TAGS) and the caller's (`pipeline`, `stage`).
 */
export function createMetrics(settings: MetricsSettings, globalTags: Tags, logger: Logger): Metrics {
  if (!settings.enabled) return noopMetrics;
  let lastError = 0;
  const onError = (err: unknown) => {
    if (Date.now() - lastError > 60_000) {
      lastError = Date.now();
      logger.warn('metrics.error', { err });
    }
  };
  const client = new StatsD({
    host: settings.host,
    port: settings.port,
    prefix: settings.prefix,
    globalTags: { ...settings.tags, ...globalTags },
    maxBufferSize: settings.maxBufferBytes,
    bufferFlushInterval: settings.flushIntervalMs,
    cacheDns: true,
    includeDataDogTags: false,
    datadog: false,
    errorHandler: onError,
  });
  const safe =
    <A extends unknown[]>(fn: (...a: A) => void) =>
    (...a: A) => {
      try {
        fn(...a);
      } catch (err) {
        onError(err); // a metrics call never throws into the data path
      }
    };
  return {
    increment: safe((n: string, v = 1, t?: Tags) => client.increment(n, v, t)),
    timing: safe((n: string, ms: number, t?: Tags) => client.timing(n, ms, t)),
    gauge: safe((n: string, v: number, t?: Tags) => client.gauge(n, v, t)),
    histogram: safe((n: string, v: number, t?: Tags) => client.histogram(n, v, t)),
    close: () => new Promise((res) => client.close(() => res())),
  };
}

/** One recorded call of `memoryMetrics`. */
export interface MetricRecord {
  type: MetricType;
  name: string;
  value: number;
  tags: Tags;
}

/** Metrics kept in memory (for tests and in-process tools): `records` grows with every call. */
export function memoryMetrics(globalTags: Tags = {}): Metrics & { records: MetricRecord[] } {
  const records: MetricRecord[] = [];
  const rec =
    (type: MetricType) =>
    (name: string, value = 1, tags?: Tags) =>
      void records.push({ type, name, value, tags: { ...globalTags, ...tags } });
  return { records, increment: rec('counter'), timing: rec('timer'), gauge: rec('gauge'), histogram: rec('histogram'), close: async () => {} };
}
