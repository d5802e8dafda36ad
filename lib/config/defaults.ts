import type { LimitSettings, MetricsSettings, RedisSettings, StageOptions, StreamSettings } from './types.js';

export const STAGE_DEFAULTS: StageOptions = {
  batchSize: 64,
  blockMs: 1000,
  claimMinIdleMs: 30_000,
  claimIntervalMs: 5_000,
  maxDeliveries: 5,
  retryBaseMs: 200,
  retryMaxMs: 5_000,
  heartbeatMs: 10_000,
  drainTimeoutMs: 30_000,
  consumerIdleRemoveMs: 300_000,
  threads: 1,
  minWorkers: 1,
  maxWorkers: 1,
};

export const REDIS_DEFAULTS: RedisSettings = { url: 'redis://127.0.0.1:6379' };
export const STREAM_DEFAULTS: StreamSettings = { trimAcked: true, terminal: ['review'] };
export const LIMIT_DEFAULTS: LimitSettings = { maxRecordBytes: 65_536 };
export const METRICS_DEFAULTS: MetricsSettings = {
  enabled: false,
  host: '127.0.0.1',
  port: 8125,
  prefix: 'pipeline.',
  gaugeIntervalMs: 5_000,
};
