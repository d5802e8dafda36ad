/**
 * The pipeline as data. `config/pipeline.json` is a `PipelineConfig`; `loadConfig` validates it,
 * merges the defaults once and returns a `ResolvedConfig`, so the rest of the code never sees an
 * optional field.
 */
import type { ApiLimits } from './api-limits.js';
import type { ConsoleOptions } from './console-options.js';
import type { WebhookSettings } from './webhook-settings.js';
import type { RateLimit } from './rate-limit.js';

/** Per-stage tuning. Every timer is here so tests can shrink it. */
export interface StageOptions {
  /** Most entries one XREADGROUP returns; the stage gets what is there up to this, never waits to fill it. @defaultValue 64 */
  batchSize: number;
  /** How long one XREADGROUP blocks when the stream is idle (also bounds how fast shutdown is noticed). @defaultValue 1000 */
  blockMs: number;
  /** After a full batch that took less than this (read to hand-off), the next XREADGROUP is sent while the batch is processed; 0 never reads ahead. @defaultValue 50 */
  readAheadMs: number;
  /** Entries pending longer than this are reclaimed from their consumer (XAUTOCLAIM). Keep above the p99 batch time. @defaultValue 30000 */
  claimMinIdleMs: number;
  /** How often the reclaimer runs XAUTOCLAIM. @defaultValue 5000 */
  claimIntervalMs: number;
  /** A message delivered this many times without success goes to the dead-letter stream. @defaultValue 5 */
  maxDeliveries: number;
  /** First retry delay for a message that failed in the stage; doubles per attempt, with jitter. @defaultValue 200 */
  retryBaseMs: number;
  /** Cap on one retry delay. @defaultValue 5000 */
  retryMaxMs: number;
  /** While a batch runs, its entries' idle time is reset this often (XCLAIM JUSTID) so no reclaimer takes them; keep it well below `claimMinIdleMs`. Formerly `heartbeatMs` (still accepted, deprecated). @defaultValue 10000 */
  keepClaimedMs: number;
  /**
   * A stage call that has not returned after this long is abandoned (it cannot be cancelled; it
   * is counted in `stage.timeouts`, its entries' idle-time reset stops) and the batch is retried
   * with a delivery counted, so a call that always hangs ends in the DLQ after `maxDeliveries`.
   * @defaultValue 300000
   */
  stageTimeoutMs: number;
  /** Shutdown waits this long for the batch in flight; what is unfinished stays pending and is reclaimed. @defaultValue 30000 */
  drainTimeoutMs: number;
  /** A consumer of the group idle this long and owning no pending entries is removed (XGROUP DELCONSUMER); also how long its hand-off and claim memories (Keys.livenessHandOff, Keys.livenessClaim) outlive its last hand-off or claim. @defaultValue 300000 */
  consumerIdleRemoveMs: number;
  /**
   * At most this often, a reclaimer pass looks for consumers of its group that hold pending entries
   * and whose alive key (`aliveTtlMs`) is gone while their registration stays (a process killed outside
   * `pipeline up`), and hands their entries over at once instead of after `claimMinIdleMs`
   * (lib/worker/liveness-handover.ts); 0 turns it off. @defaultValue 5000
   */
  livenessHandoverMs: number;
  /** How often the progress watchdog checks the read loop and refreshes the liveness marker (`{p}:liveness:<stage>:<consumer>`) and the alive key. @defaultValue 1000 */
  watchdogIntervalMs: number;
  /**
   * TTL of a consumer's "process alive" key (`{p}:liveness:<stage>:<consumer>:alive`), rewritten every
   * `watchdogIntervalMs` whatever the read loop does: a consumer whose key is gone (no beat for this long:
   * killed, or its event loop blocked) has its pending entries idle this long handed over by a sibling
   * (`livenessHandoverMs`). At least twice `watchdogIntervalMs`. @defaultValue 3000
   */
  aliveTtlMs: number;
  /** The read loop is stalled when no read returned and no batch finished for `blockMs` + this; the watchdog then resets the stuck connection and stops the liveness marker. Also how long transient read-loop errors in a row are logged at warn before `consumer.loop_error` is an error line. @defaultValue 30000 */
  stallTimeoutMs: number;
  /** How often a worker reads the data-loss marker (`{p}:epoch`) it saw at start: gone or changed means Redis lost data (lib/worker/data-loss-watch.ts); the API server reads it at the smallest of the stages' values (lib/api/server-data-loss-watch.ts). A worker and the API server read Redis's maxmemory-policy as often (lib/worker/policy-watch.ts, lib/api/eviction-guard.ts). @defaultValue 5000 */
  dataLossCheckMs: number;
  /**
   * How often a consumer reads its stage's paused flag (`{p}:paused:<stage>`, `pipeline pause`): a
   * pause takes effect after the batch in hand and at most this long after it was set (plus a read
   * in flight, `blockMs`), a resume at most this long after; a paused loop checks again this often
   * and tells the watchdog it progresses every `watchdogIntervalMs` meanwhile (not a stall). @defaultValue 1000
   */
  pausePollMs: number;
  /**
   * The longest single wait of a consumer whose stage's `rateLimit` granted it nothing: it asks the
   * bucket again after the time the bucket said, or after this if that is longer (stop and the
   * watchdog are served meanwhile; the wait counts as progress). @defaultValue 1000
   */
  rateLimitMaxWaitMs: number;
  /** ONNX Runtime intra-op threads for model stages. @defaultValue 1 */
  threads: number;
  /** Worker processes `pipeline up` starts for this stage (autoscaling moves between min and max). @defaultValue 1 */
  minWorkers: number;
  /** @defaultValue 1 */
  maxWorkers: number;
  /** Autoscaling (when maxWorkers > minWorkers): group lag at or above this, held for `scaleUpAfterMs`, adds a worker. Also KEDA's `lagCount`. @defaultValue 1000 */
  scaleUpLag: number;
  /** How long the lag must stay at or above `scaleUpLag` before each added worker. @defaultValue 15000 */
  scaleUpAfterMs: number;
  /** A group with no lag (nothing undelivered) for this long loses a worker (SIGTERM: it drains). Also KEDA's `cooldownPeriod`. @defaultValue 60000 */
  scaleDownIdleMs: number;
  /** How often `pipeline up` samples the lag to decide (KEDA's `pollingInterval`). @defaultValue 5000 */
  autoscaleIntervalMs: number;
}

export interface StageConfig extends Partial<StageOptions> {
  /** Unique stage name: the consumer group name and, by default, its input stream name. */
  name: string;
  /** Which implementation runs it: a built-in kind in stages/ (preprocess, classify, extract, validate, match, store), or `module:<path>` for the user's own module, relative to the config file (docs/extending.md). */
  kind: string;
  /** Input stream name (without the pipeline prefix). @defaultValue the stage name */
  input?: string;
  /** Model name (a folder in models/ or, with remote loading on, a hub id). */
  model?: string;
  /**
   * Free-form settings for the stage implementation (e.g. store sink, match threshold). A
   * path-valued one (`modelsDir`, match `index.dir`) is relative to the config file's folder.
   */
  settings?: Record<string, unknown>;
  /** Backpressure for this stage's input (lib/producer/backpressure.ts). @defaultValue `limits.maxLag` */
  maxLag?: number;
  /**
   * Run this stage in one worker process with every other stage of the same `process` value
   * (lib/config/processes.ts): `pipeline up`, `pipeline start` and the rendered compose and
   * Kubernetes files start that group as one process (`pipeline worker a,b,c`), each stage keeping
   * its own consumer group, reader, hand-off, reclaimer and watchdog (a record one stage routes to
   * another of the process alone runs fused: `fuse`). @defaultValue the stage's own name (a process of its own)
   */
  process?: string;
  /**
   * Records an upstream stage of the same worker process routes to this stage alone are run
   * through this stage right there, in the upstream's batch, and handed off once
   * (lib/worker/fusion.ts): one hop fewer, same ack-with-output atomicity. Entries that reach this
   * stage's stream otherwise (another process, reprocess, DLQ replay, a fused call that failed)
   * are read by its own consumer as always. `false`: every record goes through the stream.
   * @defaultValue true
   */
  fuse?: boolean;
  /**
   * At most `records` records per `perMs` ms for this stage, across all its workers and processes
   * (per shard on a sharded pipeline), as a token bucket in Redis asked before each read
   * (lib/worker/rate-gate.ts): unread records wait in the stream. A stage with a limit is never
   * run fused. @defaultValue none (unlimited); `perMs` 1000
   */
  rateLimit?: RateLimit;
}

export type Scalar = string | number | boolean | null;

/** Predicate on one output field. A bare scalar means `{ eq: value }`. */
export interface Predicate {
  eq?: Scalar;
  ne?: Scalar;
  in?: Scalar[];
  nin?: Scalar[];
  lt?: number;
  lte?: number;
  gt?: number;
  gte?: number;
  exists?: boolean;
}

/** Field path (dotted) → predicate, all must hold; `any` / `all` combine nested conditions. */
export type Condition = { any?: Condition[]; all?: Condition[] } & { [field: string]: Predicate | Scalar | Condition[] | undefined };

export interface RouteRule {
  /** Omitted: the default rule, which must be last. */
  when?: Condition;
  /** Stream name(s) to forward to; several means fan-out. */
  to: string | string[];
}

export interface RedisSettings {
  /** Overridden by REDIS_URL. @defaultValue "redis://127.0.0.1:6379" */
  url: string;
}

export interface StreamSettings {
  /**
   * Trim each stage's input stream (XTRIM MINID ~) below the oldest entry any of its groups has not
   * yet acked, so acked work does not pile up and unprocessed work is never trimmed. @defaultValue true
   */
  trimAcked: boolean;
  /** Streams that are routing targets but have no stage in this pipeline (e.g. a human review queue). @defaultValue ["review"] */
  terminal: string[];
  /**
   * Memory caps for the streams nobody consumes here: entries of a terminal stream (`review`) or
   * of the DLQ older than this many ms are trimmed (XTRIM MINID) by the one gauge sampler per
   * pipeline (`pipeline up` / `pipeline monitor`), each trim logged (`stream.trimmed_by_age`) and
   * counted (metric `stream.trimmed_by_age{stream}`): never silently. 0 = keep forever.
   * @defaultValue 0, 0
   */
  terminalMaxAgeMs: number;
  dlqMaxAgeMs: number;
}

export interface LimitSettings {
  /** Largest accepted input record, in bytes of JSON. @defaultValue 65536 */
  maxRecordBytes: number;
  /**
   * Backpressure, one rule for every way in (producer CLI, HTTP API, DLQ replay): while the lag
   * of the group reading the target stream (entries not yet delivered to it) is above this, the
   * producer waits and the API answers 429 with Retry-After. Per stage: `stages[i].maxLag`.
   * @defaultValue 100000
   */
  maxLag: number;
  /** `{p}:done`, the completion stream (stored, review, dead-lettered), is capped at about this many entries (XADD MAXLEN ~). @defaultValue 100000 */
  doneMaxLen: number;
  /** Each id's status (`{p}:status:<id>`) lives this long after its last change. @defaultValue 604800000 (7 days) */
  statusTtlMs: number;
  /**
   * A revoke (`pipeline revoke`) is kept this long: a version of the id submitted before it that
   * reaches a stage within this is acked there unprocessed, its trip ending `revoked`. @defaultValue 86400000 (24 h)
   */
  revokeTtlMs: number;
}

export interface MetricsSettings {
  /** Send StatsD metrics. Overridden by STATSD_HOST being set. @defaultValue false */
  enabled: boolean;
  /** @defaultValue "127.0.0.1" (env STATSD_HOST) */
  host: string;
  /** @defaultValue 8125 (env STATSD_PORT) */
  port: number;
  /** @defaultValue "pipeline." (env STATSD_PREFIX) */
  prefix: string;
  /** How often gauges (lag, pending, length) are sampled from Redis. @defaultValue 5000 */
  gaugeIntervalMs: number;
  /** A gauge sample unanswered this long is given up, counted (`gauges.errors`) and logged (`gauges.sample_error`). @defaultValue gaugeIntervalMs */
  sampleTimeoutMs: number;
  /** Tags on every metric, e.g. `{ "env": "prod" }`; env STATSD_TAGS=`env:prod,region:eu` adds to them. @defaultValue {} */
  tags: Record<string, string>;
  /** Metrics are batched into datagrams of up to this many bytes. @defaultValue 1400 */
  maxBufferBytes: number;
  /** A partly filled datagram is sent after at most this long. @defaultValue 1000 */
  flushIntervalMs: number;
}

export interface LogSettings {
  /** Also append every log line to the capped stream `{p}:logs` (central log sink). Overridden by env LOG_STREAM=1|0. @defaultValue false */
  stream: boolean;
  /** XADD MAXLEN ~ this: the stream keeps about this many lines. @defaultValue 10000 */
  maxLen: number;
  /** Buffered lines are written this often, in one pipelined round trip. @defaultValue 1000 */
  flushIntervalMs: number;
  /** At most this many lines wait for Redis; older ones are dropped (and counted) beyond it. @defaultValue 1000 */
  maxBuffered: number;
}

/** How `pipeline up` / `start` restart a crashed worker process (lib/ops/supervisor.ts). */
export interface SupervisorSettings {
  /** First restart delay after a crash; doubles per consecutive fast crash. @defaultValue 500 */
  restartBaseMs: number;
  /** Longest restart delay. @defaultValue 10000 */
  restartMaxMs: number;
  /** A worker that ran this long before it crashed restarts after `restartBaseMs` again; one that crashed sooner is a fast crash. @defaultValue 30000 */
  stableAfterMs: number;
  /** This many fast crashes in a row log `supervisor.crash_loop` (error), and again after as many more. @defaultValue 5 */
  crashLoopAfter: number;
  /**
   * A worker process that exits (a crash, a kill, a drain cut short) has its consumers' pending
   * entries made claimable at once (lib/ops/dead-handover.ts); that step is given up after this
   * long (Redis down), and the entries then wait `claimMinIdleMs` as before. @defaultValue 5000
   */
  handOverTimeoutMs: number;
}

export interface PipelineConfig {
  /** Pipeline name: the hash tag of every key (`{products}:classify`). Overridden by PIPELINE. @defaultValue "products" */
  pipeline?: string;
  /** The stream the producer writes to. @defaultValue "in" */
  input?: string;
  /**
   * Shards: N complete sets of the pipeline's streams, DLQ and store keys, each under its own hash
   * tag (`{products:0}:classify`, ...) so a Redis Cluster spreads them over its masters; records go
   * to a shard by a stable hash of their key (lib/redis/shard.ts). 1 keeps the unsharded names
   * (`{products}:...`). Fixed for a pipeline's lifetime: changing it moves where keys live.
   * Overridden by env PIPELINE_SHARDS. @defaultValue 1
   */
  shards?: number;
  redis?: Partial<RedisSettings>;
  streams?: Partial<StreamSettings>;
  limits?: Partial<LimitSettings>;
  metrics?: Partial<MetricsSettings>;
  logs?: Partial<LogSettings>;
  supervisor?: Partial<SupervisorSettings>;
  /** The HTTP API's limits (lib/config/api-limits.ts): `pipeline serve`, `up --serve`, `start --serve`. */
  api?: Partial<ApiLimits>;
  /** The web console's timers and caps (lib/config/console-options.ts): `pipeline serve`, `up --serve`, `start --serve`. */
  console?: Partial<ConsoleOptions>;
  /** Completions POSTed to applications by `pipeline webhooks` (lib/config/webhooks.ts, docs/webhooks.md); each one's options default. */
  webhooks?: unknown[];
  /** Defaults for every stage, overridden per stage. */
  defaults?: Partial<StageOptions>;
  stages: StageConfig[];
  /** Stage name → ordered rules, first match wins. Sink stages have none. */
  routes: Record<string, RouteRule[]>;
}

export interface ResolvedStage extends StageOptions {
  name: string;
  /** Redis URL this stage's workers connect with: env `REDIS_URL_<STAGE>` (see `stageRedisUrlEnv`), else `redis.url`. */
  redisUrl: string;
  kind: string;
  input: string;
  model?: string;
  /** The stage's settings; the path-valued ones its kind names (LoadOptions.pathSettings) made absolute against the config file's folder. */
  settings: Record<string, unknown>;
  /** `maxLag` of the stage, else `limits.maxLag`. */
  maxLag: number;
  /** The worker process it runs in: its `process`, else its own name. */
  process: string;
  /** May run fused after an upstream stage of its process (StageConfig.fuse). */
  fuse: boolean;
  /** StageConfig.rateLimit; undefined: unlimited. */
  rateLimit?: RateLimit;
}

/** One worker process kind (lib/config/processes.ts): the stages it runs, in config order. */
export interface ResolvedProcess {
  /** The `process` value its stages share, or the name of a stage that has none. */
  name: string;
  stages: string[];
}

export interface ResolvedConfig {
  pipeline: string;
  input: string;
  /** Number of shards (1 = unsharded). */
  shards: number;
  redis: RedisSettings;
  streams: StreamSettings;
  limits: LimitSettings;
  metrics: MetricsSettings;
  logs: LogSettings;
  supervisor: SupervisorSettings;
  /** The HTTP API's limits, defaults filled in (`buildServer({ limits })` overrides them). */
  api: ApiLimits;
  /** The web console's timers and caps, defaults filled in (the plugin's options override them). */
  console: ConsoleOptions;
  /** The webhooks, defaults filled in ([] when none). */
  webhooks: WebhookSettings[];
  stages: ResolvedStage[];
  /** Worker processes: the stages grouped by `process`, in config order (one per stage when none is set). */
  processes: ResolvedProcess[];
  routes: Record<string, RouteRule[]>;
  /** Where the config came from, for messages. */
  source: string;
}
