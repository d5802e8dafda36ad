import { DEFAULT_WAIT_REPLICAS, type WaitReplicas } from '../core/wait-replicas.js';

/**
 * The HTTP API's timeouts, caps and sizes: every one an option, set by the config's `api` section
 * (so `pipeline serve`, `up --serve` and `start --serve` take them) and by `buildServer({ limits })`
 * over it; documented in docs/configuration.md#http-api. Here, in the config layer, so the config
 * loader checks the section; lib/api/options.ts re-exports them.
 */
export interface ApiLimits {
  /** Largest request body (413 above it). @defaultValue 10485760 (10 MiB) */
  bodyLimitBytes: number;
  /** Most records in one `POST /v1/products` (413 above it). @defaultValue 10000 */
  maxRecordsPerRequest: number;
  /** `POST /v1/enrich` waits this long when the request names no `timeout_ms`. @defaultValue 10000 */
  enrichTimeoutMs: number;
  /** Of an enrich's deadline, this much (at most half of it) is kept for the status lookup when no completion came: the answer is sent by the deadline (the lookup had run past it under load). @defaultValue 250 */
  enrichLookupMs: number;
  /** Cap on `timeout_ms` of `POST /v1/enrich` and `wait_ms` of `GET /v1/products/{id}`: no request waits longer. @defaultValue 60000 */
  maxWaitMs: number;
  /** The completions reader's XREAD BLOCK (also bounds how fast shutdown stops it). @defaultValue 1000 */
  completionsBlockMs: number;
  /** Most completion entries one XREAD returns. @defaultValue 1000 */
  completionsBatch: number;
  /** First delay after a failed XREAD of the completions reader; doubles up to `completionsRetryMaxMs`, jittered. @defaultValue 100 */
  completionsRetryMs: number;
  /** The longest delay between the completions reader's failed XREADs (Redis down for long). @defaultValue 5000 */
  completionsRetryMaxMs: number;
  /** How long a backpressure reading (the input group's lag, Redis OOM) is reused before it is read again. @defaultValue 250 */
  backpressureCacheMs: number;
  /** How long the reading of the stages after the input stage (each one's lag against its own maxLag) is reused. @defaultValue 1000 */
  backpressureStagesMs: number;
  /** `Retry-After` (seconds) of 503 answers and of a 429 for Redis full; the least a backlog 429 says. @defaultValue 1 */
  retryAfterSeconds: number;
  /** The most a backlog 429's `Retry-After` says: the lag above maxLag over the rate the lag fell lately, within [retryAfterSeconds, this]; a lag that does not fall gets this. @defaultValue 60 */
  retryAfterMaxSeconds: number;
  /** An SSE stream sends a comment line this often, so proxies keep it open. @defaultValue 15000 */
  sseHeartbeatMs: number;
  /** Entries per XRANGE page when an SSE client resumes with Last-Event-ID. @defaultValue 500 */
  ssePageSize: number;
  /** An SSE client with more than this many bytes unread (what its socket has not taken of earlier writes, measured before each write) is cut off (it resumes with Last-Event-ID). @defaultValue 1048576 (1 MiB) */
  sseMaxBufferBytes: number;
  /** SSE clients written per turn of the event loop when a batch of completions is fanned out; the process answers other requests between slices. @defaultValue 50 */
  sseFanoutSlice: number;
  /** An SSE client resuming with Last-Event-ID that reads nothing for this long while the catch-up has more for it is cut off (it resumes again). @defaultValue 30000 */
  sseStallMs: number;
  /** Time to receive a whole request (headers and body) before the connection is closed: a client that sends slowly, or never, does not hold it. @defaultValue 30000 */
  requestTimeoutMs: number;
  /**
   * A keep-alive connection idle after its answer is closed after this; clients are told it
   * (`Keep-Alive: timeout=<s>`). Longer than a load balancer's idle timeout (60 s on AWS's), so the
   * balancer, not the server, closes an idle connection first. @defaultValue 72000
   */
  keepAliveTimeoutMs: number;
  /** Closing, the server waits this long for the requests in flight (an answer a client does not read, a body it never sends); then it closes their connections. @defaultValue 15000 */
  drainTimeoutMs: number;
  /** Most open connections; more are refused at connect, so clients cannot use up the process's file descriptors (which its Redis connections need too). @defaultValue 10000 */
  maxConnections: number;
  /** Most requests holding their connection open at once (SSE streams, `wait_ms` long-polls, enrich), every caller's: more are answered 429 `too_many_waits`; below `maxConnections`, so `/healthz`, `/metrics` and submissions are still served. @defaultValue 9000 (unset in a config: nine tenths of `maxConnections`, at most 9000) */
  maxWaits: number;
  /** Most requests holding their connection open at once for one caller (its token's name; without tokens, its remote address): more are answered 429 `too_many_waits`. @defaultValue 1000 (unset in a config: at most `maxWaits`) */
  maxWaitsPerCaller: number;
  /** A command on the API's Redis connection not answered within this fails: 503 (reads), a retried submit call (writes), `/readyz` 503. @defaultValue 5000 */
  redisCommandTimeoutMs: number;
  /** How long a submit call's marker (`{p}:in:submit:<token>`) is kept: a copy of the call re-sent within it (after a dropped connection) adds nothing. @defaultValue 3600000 */
  submitDedupMs: number;
  /** A submit call whose connection failed is sent again with the same marker until this long after it began; then 503 `outcome_unknown`. Also how long after a request began a shard whose backpressure reading failed (its master down, a failover) is read again; then its records are answered `not_taken`. @defaultValue 10000 */
  submitRetryMs: number;
  /** Sharded: a shard whose backpressure reading has not answered within this is read again (within `submitRetryMs`) while the records of the shards that answered are written; a master killed had held every shard's records until its replica was promoted. @defaultValue 500 */
  shardReadingWaitMs: number;
  /**
   * Replicas that must have a submit call's records before they are answered 202 (`WAIT`, sent with
   * the call on its connection). Short of it within `submitWaitTimeoutMs`, the call is sent again
   * (same marker, nothing added twice) until `submitRetryMs`, then 503 `outcome_unknown`. `"auto"`:
   * 1 when the master the call goes to has a connected replica (INFO replication, read per
   * connection every `submitReplicaCheckMs`), else 0: behind Sentinel a master failed over in place
   * keeps taking writes until the sentinels announce the switch, and a 202 from it was lost; a
   * redis-server without replicas is sent no WAIT. 0: answered once the master has them.
   * @defaultValue "auto"
   */
  submitWaitReplicas: WaitReplicas;
  /** With `submitWaitReplicas` "auto": how often a master's replica count is read again on the same connection (a new connection is read at its first submit). @defaultValue 5000 */
  submitReplicaCheckMs: number;
  /** With `submitWaitReplicas` "auto": a lower replica count read on the same connection is believed only once it has lasted this long (a master failed over in place loses its replica before its clients hear of it). @defaultValue 30000 */
  submitReplicaDropMs: number;
  /** One `WAIT` of a submit call (`submitWaitReplicas`); the API's command connection waits with it. @defaultValue 1000 */
  submitWaitTimeoutMs: number;
}

export const API_DEFAULTS: ApiLimits = {
  bodyLimitBytes: 10 * 1024 * 1024,
  maxRecordsPerRequest: 10_000,
  enrichTimeoutMs: 10_000,
  enrichLookupMs: 250,
  maxWaitMs: 60_000,
  completionsBlockMs: 1_000,
  completionsBatch: 1_000,
  completionsRetryMs: 100,
  completionsRetryMaxMs: 5_000,
  backpressureCacheMs: 250,
  backpressureStagesMs: 1_000,
  retryAfterSeconds: 1,
  retryAfterMaxSeconds: 60,
  sseHeartbeatMs: 15_000,
  ssePageSize: 500,
  sseMaxBufferBytes: 1024 * 1024,
  sseFanoutSlice: 50,
  sseStallMs: 30_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 72_000,
  drainTimeoutMs: 15_000,
  maxConnections: 10_000,
  maxWaits: 9_000,
  maxWaitsPerCaller: 1_000,
  redisCommandTimeoutMs: 5_000,
  submitDedupMs: 3_600_000,
  submitRetryMs: 10_000,
  shardReadingWaitMs: 500,
  submitWaitReplicas: DEFAULT_WAIT_REPLICAS,
  submitReplicaCheckMs: 5_000,
  submitReplicaDropMs: 30_000,
  submitWaitTimeoutMs: 1_000,
};
