import type { Redis } from 'ioredis';
import { hostname } from 'node:os';
import type { ResolvedConfig } from '../config/types.js';
import type { Logger } from '../observe/logger.js';
import { createMetrics, type Metrics } from '../observe/metrics.js';
import type { Keys } from '../redis/keys.js';
import { API_WITNESS } from '../stream/data-loss.js';
import { DataLossWatch } from '../worker/data-loss-watch.js';

/** The running watch of lib/api/server-data-loss-watch.ts. */
export interface ApiDataLossWatch {
  /** Stop reading; a check in flight is waited for at most `waitMs`; the counter's client closed. */
  stop(waitMs: number): Promise<void>;
}

/**
 * The API server's own data-loss watch (`pipeline serve`): the workers' watch
 * (lib/worker/data-loss-watch.ts) on every shard's marker `{p}:epoch`, so a Redis that restarted
 * empty while no worker ran (stopped for a deploy) is said by the server itself: the same error line
 * and counter `redis.data_lost` (stage `api`) and the same record `{p}:data-lost`, which `/readyz`,
 * `GET /v1/data-loss` and the console show. The server has no NOGROUP of its own to tell: the marker
 * alone. Read every `dataLossCheckMs` (the smallest of the config's stages: the defaults' unless a
 * stage sets its own), the first time when the server is built (adopting the marker, written if absent).
 */
export function watchDataLoss(d: { config: ResolvedConfig; shards: readonly Keys[]; redis: Redis; logger: Logger; metrics?: Metrics }): ApiDataLossWatch {
  const { config } = d;
  const metrics = d.metrics ?? createMetrics(config.metrics, { pipeline: config.pipeline, stage: API_WITNESS }, d.logger);
  const intervalMs = Math.min(...config.stages.map((s) => s.dataLossCheckMs));
  const watch = new DataLossWatch(d.shards, {
    stage: API_WITNESS,
    consumer: `${hostname()}-${process.pid}`,
    logger: d.logger,
    metrics,
    intervalMs,
    redis: () => d.redis,
  });
  watch.start(true);
  return {
    stop: async (waitMs) => {
      await watch.stop(waitMs);
      if (!d.metrics) await metrics.close();
    },
  };
}
