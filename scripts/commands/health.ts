import { hostname } from 'node:os';
import { consumerHealth } from '../../lib/ops/consumer-health.js';
import { parseShardList } from '../../lib/redis/shard.js';
import { cliRedis, loadConfig, type GlobalOptions } from './common.js';

export interface HealthOptions extends GlobalOptions {
  stage: string;
  pid?: string;
  host?: string;
  /** Exit 0 when Redis cannot be reached (a liveness probe: restarting the worker would not help). */
  unknownOk?: boolean;
  /** Sharded pipelines: the worker's shards (default: env WORKER_SHARDS, as the worker reads it; else all). */
  shards?: string;
}

/**
 * `pipeline health --stage X`: exit 0 when this host's consumer of the stage is making progress
 * (its watchdog's liveness key `{p}:liveness:<stage>:<consumer>` is alive), else exit 1 with the reason,
 * as one JSON line. For exec readiness/liveness probes: one XINFO and one GET, then it disconnects.
 */
export async function healthCommand(opts: HealthOptions): Promise<void> {
  const config = loadConfig(opts);
  const redis = cliRedis(config.redis.url);
  try {
    const h = await consumerHealth(redis, config, opts.stage, {
      host: opts.host ?? hostname(),
      pid: opts.pid === undefined ? undefined : Number(opts.pid),
      shards: parseShardList(opts.shards ?? process.env.WORKER_SHARDS, config.shards, opts.shards !== undefined ? '--shards' : 'env WORKER_SHARDS'),
    });
    const ok = h.ok || (h.unreachable === true && opts.unknownOk === true);
    process.stdout.write(JSON.stringify({ ...h, ok }) + '\n');
    if (!ok) process.exitCode = 1;
  } finally {
    redis.disconnect();
  }
}
