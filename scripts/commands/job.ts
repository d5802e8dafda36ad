import { mkdtempSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { sleep } from '../../lib/core/backoff.js';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { processOptions } from '../../lib/config/processes.js';
import { isIdle, pipelineStatus, type PipelineStatus } from '../../lib/ops/inspect.js';
import type { Logger } from '../../lib/observe/logger.js';
import { createMetrics, type Metrics } from '../../lib/observe/metrics.js';
import { Keys } from '../../lib/redis/keys.js';
import { dropPipelineKeys } from '../../lib/ops/drop-keys.js';
import { RedisServer } from '../../lib/redis/server.js';
import { reapOrphanedServers } from '../../lib/redis/server-owner.js';
import { configShards, type Shards } from '../../lib/redis/shard.js';
import { cliRedis, loadConfig, warnEvictionPolicy } from './common.js';
import { refuseEvictingPolicy } from '../../lib/redis/policy.js';
import { checkBeforeStart } from './start-checks.js';
import { CrashLoopError } from '../../lib/core/errors.js';
import { createSupervisor, unitKillAfterMs } from './up.js';
import type { Supervisor } from '../../lib/ops/supervisor.js';
import { onShutdownSignal } from '../../lib/worker/shutdown.js';
import { onOutputClosed } from './output-closed.js';
import { refuseClusterNode } from '../../lib/redis/cluster-node.js';
import { settleJobDir, WORKER_LOG } from './job-dir.js';

export interface JobContext {
  config: ResolvedConfig;
  /** The unsharded pipeline's keys (with shards: shard 0's; use `shards` for anything per record). */
  keys: Keys;
  /** Every shard's keys, and a record's shard (`shards.keysFor(id)`). */
  shards: Shards;
  redis: Redis;
  /** The URL of the redis-server this job started because REDIS_URL was unset (it stops with the job); undefined on the user's Redis. */
  ownRedisUrl?: string;
  /** Where the workers' JSON logs go. */
  logFile: string;
  /** The job's temp folder (`$TMPDIR/pipeline-job-*`): removed at the end unless it holds something to read (scripts/commands/job-dir.ts). */
  logDir: string;
  /** Keep the job's folder at the end, whatever it holds, saying `why` (a caller about to name the worker log in an error). */
  keepLogs(why: string): void;
  /** A worker process in a crash loop now (its config `process` name and crash count), or undefined. */
  crashLoop(): { stage: string; crashes: number } | undefined;
  /**
   * Resolves at SIGTERM / SIGINT / SIGHUP, for a job that runs until stopped (`start --serve`):
   * once it has called this, a signal lets it return (then workers and Redis stop) instead of
   * interrupting it.
   */
  untilStopped(): Promise<void>;
}

export interface JobOptions {
  configPath?: string;
  /** Run under this pipeline name (keys `{name}:*`) instead of the config's. */
  pipeline?: string;
  logger: Logger;
  /**
   * Delete the pipeline's keys (`{name}:*`) when done, after the workers stopped: on success, on an
   * error and on a signal (not after a second, forced one). For a throwaway pipeline name (`eval`'s).
   * @defaultValue false
   */
  dropKeys?: boolean;
  /**
   * Stop as on SIGTERM once a process the job was started under is gone (npm or npx signalled alone:
   * `npm start -- --serve &`, `kill $!`); polled this often (ms), 0: never (lib/core/parent-watch.ts).
   * @defaultValue 0
   */
  parentPollMs?: number;
  /**
   * Keep the job's temp folder (worker logs, rejected lines) at the end, named on the output, even
   * when it holds nothing but info lines (removed then otherwise; on a signal too, not after a second, forced one).
   * @defaultValue false
   */
  keepLogs?: boolean;
}

/**
 * Run `fn` with the whole pipeline up: a local redis-server when REDIS_URL is unset, every stage
 * in a worker process (one per config `process`; logs to a file), and a CLI connection; everything is stopped afterwards.
 * A signal (SIGTERM, SIGINT, SIGHUP) stops it all too, and so does the end of a process it was started under
 * (`parentPollMs`): the job is interrupted (exit 130) unless it waits in `untilStopped()`; a second
 * signal SIGKILLs the workers and exits at once.
 */
export async function withPipeline<T>(opts: JobOptions, fn: (ctx: JobContext) => Promise<T>): Promise<T> {
  let server: RedisServer | undefined;
  let supervisor: Supervisor | undefined;
  let redis: Redis | undefined;
  let stopping = false;
  let waiting = false;
  let signalled!: () => void;
  const stopSignal = new Promise<void>((resolve) => (signalled = resolve));
  let stopped: Promise<void> | undefined;
  let drop: readonly Keys[] | undefined;
  let metrics: Metrics | undefined;
  let logDir: string | undefined;
  let keep = opts.keepLogs ? '--keep-logs' : undefined;
  // Once per job, after the workers stopped (their last lines are in the log): remove the folder or say where it is kept.
  const settle = (end: 'done' | 'failed' | 'interrupted') => {
    if (logDir) settleJobDir(logDir, { keep, failed: end === 'failed', out: end === 'done' ? process.stdout : process.stderr });
    logDir = undefined;
  };
  const stopAll = () =>
    (stopped ??= (async () => {
      await supervisor?.stop();
      await metrics?.close();
      // Redis of its own is stopped with all in it; keys in another one are deleted here.
      if (drop && redis && !server) await dropKeys(redis, drop, opts.logger);
      redis?.disconnect();
      await server?.close();
    })());
  const interrupted = async (): Promise<never> => {
    await stopAll();
    settle('interrupted');
    opts.logger.warn('job.interrupted', { exitCode: 130 });
    process.exit(130);
  };
  // In place before anything starts: a signal must not leave workers or the redis-server behind
  // (death by a signal runs no 'exit' hook).
  const off = onShutdownSignal(
    async () => {
      stopping = true;
      supervisor?.hold();
      signalled();
      if (!waiting) await interrupted();
    },
    opts.logger,
    { force: () => supervisor?.kill(), parentPollMs: opts.parentPollMs ?? 0 },
  );
  // A reader that stopped early (`pipeline eval 2>&1 | head`): stop as on Ctrl-C, the run's keys deleted, not exit at once.
  const offClosed = onOutputClosed(() => process.kill(process.pid, 'SIGTERM'));
  try {
    // A redis-server a killed `start` left behind (its watcher killed too) is stopped now.
    await reapOrphanedServers({ logger: opts.logger });
    if (!process.env.REDIS_URL) {
      // Its own process group too: a terminal's Ctrl-C must not stop Redis under workers still draining.
      // It stops when this process dies, however (lib/redis/server-owner.ts).
      server = await new RedisServer({ detached: true }).start();
      process.env.REDIS_URL = server.url;
      opts.logger.info('job.redis_started', { url: server.url, dir: server.dir });
    }
    if (opts.pipeline) process.env.PIPELINE = opts.pipeline;
    const config = loadConfig({ config: opts.configPath });
    redis = cliRedis(config.redis.url);
    // A redis:// URL at a Cluster node: one line and exit 19 now, not workers restarted on MOVED.
    await refuseClusterNode(redis);
    // As `produce`: a Redis that evicts any key at maxmemory is refused before a record goes in or a
    // worker starts (each worker refuses it, so they crash-looped while the input went in).
    refuseEvictingPolicy(await warnEvictionPolicy(redis));
    logDir = mkdtempSync(join(tmpdir(), 'pipeline-job-'));
    const logFile = join(logDir, WORKER_LOG);
    const units = config.processes;
    // As `pipeline up`: a broken module stage or model folder is one line naming the stage, not workers crashing in a loop.
    await checkBeforeStart(config);
    // The `workers` gauge, as `pipeline up` sends it (with StatsD on).
    metrics = createMetrics(config.metrics, { pipeline: config.pipeline }, opts.logger);
    // Workers in their own process groups: a terminal's Ctrl-C reaches this process alone, which stops them once (drained).
    supervisor = createSupervisor(
      {
        configPath: opts.configPath,
        metrics,
        workersGaugeIntervalMs: config.metrics.gaugeIntervalMs,
        env: process.env,
        stdio: openSync(logFile, 'a'),
        units,
        detached: true,
        killAfterMs: unitKillAfterMs(config, units),
        restart: config.supervisor,
        config,
      },
      opts.logger,
    );
    if (stopping) return await interrupted();
    // One worker process per config `process` (a stage alone unless several share one).
    for (const p of units) supervisor.scale(p.name, Math.max(1, processOptions(config, p).minWorkers));
    const shards = configShards(config);
    if (opts.dropKeys) drop = shards.all;
    const untilStopped = () => {
      waiting = true;
      return stopSignal;
    };
    const sv = supervisor;
    const crashLoop = () => sv.crashLooping()[0];
    const keepLogs = (why: string) => void (keep ??= why);
    const ctx = {
      config,
      keys: shards.all[0]!,
      shards,
      redis,
      ...(server ? { ownRedisUrl: server.url } : {}),
      logFile,
      logDir,
      keepLogs,
      untilStopped,
      crashLoop,
    };
    const result = await fn(ctx);
    await stopAll();
    settle('done');
    return result;
  } catch (err) {
    if (stopping) return await interrupted(); // an error of the stop itself (Redis closed under the job)
    await stopAll();
    settle('failed');
    throw err;
  } finally {
    await stopAll();
    off();
    offClosed();
  }
}

/** Delete a throwaway pipeline's keys; a failure is logged (the run's own result or error stands). */
async function dropKeys(redis: Redis, keys: readonly Keys[], logger: Logger): Promise<void> {
  const tags = keys.map((k) => k.tag);
  try {
    logger.info('job.keys_deleted', { tags, keys: await dropPipelineKeys(redis, keys) });
  } catch (err) {
    logger.warn('job.keys_left', { tags, err });
  }
}

/**
 * Poll until every stage's group exists and has nothing undelivered or pending. A worker in a
 * crash loop (config `supervisor.crashLoopAfter` fast crashes in a row) ends the wait at once:
 * CrashLoopError naming its process and the worker log. Either error that names the worker log keeps
 * the job's folder (`keepLogs`), whatever the log holds.
 */
export async function waitIdle(ctx: JobContext, timeoutMs: number, pollMs: number): Promise<PipelineStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const loop = ctx.crashLoop();
    if (loop) {
      const stages = ctx.config.processes.find((p) => p.name === loop.stage)?.stages ?? [loop.stage];
      // Its error names the worker log: kept whatever it holds (at LOG_LEVEL warn it may be empty).
      ctx.keepLogs('a worker crash-looped');
      throw new CrashLoopError(loop.stage, stages, loop.crashes, ctx.logFile);
    }
    const status = await pipelineStatus(ctx.redis, ctx.config);
    const groups = (status.shards ?? [status]).every((sh) => sh.streams.every((s) => !s.stage || s.group));
    if (isIdle(status) && groups) return status;
    if (Date.now() > deadline) {
      ctx.keepLogs('not idle in time');
      throw new Error(`pipeline not idle after ${timeoutMs} ms; worker logs: ${ctx.logFile}`);
    }
    await sleep(pollMs);
  }
}
