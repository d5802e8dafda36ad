import type { LimitSettings, LogSettings, MetricsSettings, RedisSettings, StageOptions, StreamSettings, SupervisorSettings } from './types.js';

export const STAGE_DEFAULTS: StageOptions = {
  batchSize: 64,
  blockMs: 1000,
  readAheadMs: 50,
  claimMinIdleMs: 30_000,
  claimIntervalMs: 5_000,
  maxDeliveries: 5,
  retryBaseMs: 200,
  retryMaxMs: 5_000,
  keepClaimedMs: 10_000,
  stageTimeoutMs: 300_000,
  drainTimeoutMs: 30_000,
  consumerIdleRemoveMs: 300_000,
  livenessHandoverMs: 5_000,
  watchdogIntervalMs: 1_000,
  aliveTtlMs: 3_000,
  stallTimeoutMs: 30_000,
  dataLossCheckMs: 5_000,
  pausePollMs: 1_000,
  rateLimitMaxWaitMs: 1_000,
  threads: 1,
  minWorkers: 1,
  maxWorkers: 1,
  scaleUpLag: 1000,
  scaleUpAfterMs: 15_000,
  scaleDownIdleMs: 60_000,
  autoscaleIntervalMs: 5_000,
};

export const REDIS_DEFAULTS: RedisSettings = { url: 'redis://127.0.0.1:6379' };
export const STREAM_DEFAULTS: StreamSettings = { trimAcked: true, terminal: ['review'], terminalMaxAgeMs: 0, dlqMaxAgeMs: 0 };
export const LIMIT_DEFAULTS: LimitSettings = {
  maxRecordBytes: 65_536,
  maxLag: 100_000,
  doneMaxLen: 100_000,
  statusTtlMs: 7 * 24 * 3600 * 1000,
  revokeTtlMs: 24 * 3600 * 1000,
};
/** `sampleTimeoutMs` is `gaugeIntervalMs` unless given (lib/config/load.ts). */
export const METRICS_DEFAULTS: Omit<MetricsSettings, 'sampleTimeoutMs'> = {
  enabled: false,
  host: '127.0.0.1',
  port: 8125,
  prefix: 'pipeline.',
  gaugeIntervalMs: 5_000,
  tags: {},
  maxBufferBytes: 1400,
  flushIntervalMs: 1000,
};
export const SUPERVISOR_DEFAULTS: SupervisorSettings = {
  restartBaseMs: 500,
  restartMaxMs: 10_000,
  stableAfterMs: 30_000,
  crashLoopAfter: 5,
  handOverTimeoutMs: 5_000,
};
export const LOG_DEFAULTS: LogSettings = { stream: false, maxLen: 10_000, flushIntervalMs: 1000, maxBuffered: 1000 };
