import { mkdtempSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { sleep } from '../../lib/core/backoff.js';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { processOptions } from '../../lib/config/processes.js';
import { isIdle, pipelineStatus, type PipelineStatus } from '../../lib/ops/inspect.js';
import type { Logger } from '../../lib/observe/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import { RedisServer } from '../../lib/redis/server.js';
import { configShards, type Shards } from '../../lib/redis/shard.js';
import { cliRedis, loadConfig } from './common.js';
import { createSupervisor } from './up.js';

export interface JobContext {
  config: ResolvedConfig;
  /** The unsharded pipeline's keys (with shards: shard 0's; use `shards` for anything per record). */
  keys: Keys;
  /** Every shard's keys, and a record's shard (`shards.keysFor(id)`). */
  shards: Shards;
  redis: Redis;
  /** Where the workers' JSON logs go. */
  logFile: string;
  logDir: string;
}

export interface JobOptions {
  configPath?: string;
  /** Run under this pipeline name (keys `{name}:*`) instead of the config's. */
  pipeline?: string;
  logger: Logger;
}

/**
 * Run `fn` with the whole pipeline up: a local redis-server when REDIS_URL is unset, every stage
 * in a worker process (one per config `process`; logs to a file), and a CLI connection; everything is stopped afterwards.
 */
export async function withPipeline<T>(opts: JobOptions, fn: (ctx: JobContext) => Promise<T>): Promise<T> {
  let server: RedisServer | undefined;
  if (!process.env.REDIS_URL) {
    server = await new RedisServer().start();
    process.env.REDIS_URL = server.url;
    opts.logger.info('job.redis_started', { url: server.url });
  }
  if (opts.pipeline) process.env.PIPELINE = opts.pipeline;
  const config = loadConfig({ config: opts.configPath });
  const redis = cliRedis(config.redis.url);
  const logDir = mkdtempSync(join(tmpdir(), 'pipeline-job-'));
  const logFile = join(logDir, 'workers.log');
  const supervisor = createSupervisor({ configPath: opts.configPath, env: process.env, stdio: openSync(logFile, 'a'), units: config.processes }, opts.logger);
  try {
    // One worker process per config `process` (a stage alone unless several share one).
    for (const p of config.processes) supervisor.scale(p.name, Math.max(1, processOptions(config, p).minWorkers));
    const shards = configShards(config);
    return await fn({ config, keys: shards.all[0]!, shards, redis, logFile, logDir });
  } finally {
    await supervisor.stop();
    redis.disconnect();
    await server?.close();
  }
}

/** Poll until every stage's group exists and has nothing undelivered or pending. */
export async function waitIdle(ctx: JobContext, timeoutMs: number, pollMs: number): Promise<PipelineStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await pipelineStatus(ctx.redis, ctx.config);
    const groups = (status.shards ?? [status]).every((sh) => sh.streams.every((s) => !s.stage || s.group));
    if (isIdle(status) && groups) return status;
    if (Date.now() > deadline) throw new Error(`pipeline not idle after ${timeoutMs} ms; worker logs: ${ctx.logFile}`);
    await sleep(pollMs);
  }
}
