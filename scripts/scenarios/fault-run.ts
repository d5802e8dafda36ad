/**
 * The start-up `npm run chaos` and `npm run soak` share: the chosen pipeline config under a fresh
 * name with their shrunk timers, written to the run's temp dir; the worker processes under the
 * supervisor of `pipeline up` (logs to `<dir>/workers.log`); an abort that stops the workers and
 * redis-server on SIGINT / SIGTERM / an uncaught error, or once the process it was started under
 * is gone (npm or npx signalled alone: lib/core/parent-watch.ts; no orphans, logs kept); and a wait until
 * every worker's read loop runs (its watchdog's liveness key is up).
 */
import { openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { sleep } from '../../lib/core/backoff.js';
import { resolveConfig } from '../../lib/config/load.js';
import type { PipelineConfig, ResolvedConfig, ResolvedProcess } from '../../lib/config/types.js';
import type { Logger } from '../../lib/observe/logger.js';
import type { RedisServer } from '../../lib/redis/server.js';
import { isLivenessMarker } from '../../lib/redis/keys.js';
import { configShards, type Shards } from '../../lib/redis/shard.js';
import { watchParents } from '../../lib/core/parent-watch.js';
import { createSupervisor } from '../commands/up.js';

export interface FaultRunOptions {
  dir: string;
  server: RedisServer;
  /** The check connection (liveness keys are read through it). */
  redis: Redis;
  raw: PipelineConfig;
  pipeline: string;
  /** Stage options over the config's defaults (shrunk timers). */
  defaults: Record<string, unknown>;
  shards?: number;
  /** Worker processes per stage (per config process with `colocate`). */
  workers: number;
  /** Run the stages as the config's `process` groups, as `pipeline up` does (fused stages included), instead of one process per stage. @defaultValue false */
  colocate?: boolean;
  workerLogLevel: 'info' | 'warn';
  say: (msg: string) => void;
  log: Logger;
  /** Poll the processes the run was started under this often; abort (exit 129) once one is gone. 0: never. @defaultValue 1000 */
  parentPollMs?: number;
  /** Awaited by abort after the workers stop, before redis-server closes (a restart in progress). */
  beforeServerClose?: () => Promise<unknown>;
}

export interface FaultRun {
  config: ResolvedConfig;
  /** What the supervisor runs (and kills): each stage alone, or the config's processes with `colocate`. */
  units: readonly ResolvedProcess[];
  shards: Shards;
  supervisor: ReturnType<typeof createSupervisor>;
  /** Stop the workers and redis-server, say why, exit with `code`. */
  abort(why: string, code: number): Promise<never>;
  /** Resolves once every worker's read loop runs. */
  allLive(everyMs: number): Promise<void>;
  /**
   * The end of a run the workers have left: close `connections`, the check connection and
   * redis-server; say the failures and where the logs are kept (kept too with `keep`, else
   * removed); exit 1 on a failure, else 0.
   */
  finish(failures: readonly string[], keep: boolean, connections: readonly Redis[]): Promise<never>;
}

export function startFaultRun(o: FaultRunOptions): FaultRun {
  const configFile = join(o.dir, 'config.json');
  const shardCount = o.shards !== undefined ? { shards: o.shards } : {};
  writeFileSync(configFile, JSON.stringify({ ...o.raw, pipeline: o.pipeline, ...shardCount, defaults: { ...o.raw.defaults, ...o.defaults } }));
  const config = resolveConfig(JSON.parse(readFileSync(configFile, 'utf8')), configFile, { env: { REDIS_URL: o.server.url } });
  const shards = configShards(config);
  const units = o.colocate ? config.processes : config.stages.map((s) => ({ name: s.name, stages: [s.name] }));
  const supervisor = createSupervisor(
    {
      configPath: configFile,
      env: { ...process.env, REDIS_URL: o.server.url, LOG_LEVEL: o.workerLogLevel },
      stdio: openSync(join(o.dir, 'workers.log'), 'a'),
      units,
      restart: config.supervisor,
      config,
    },
    o.log,
  );
  for (const unit of units) supervisor.scale(unit.name, o.workers);
  let aborting = false;
  const abort = async (why: string, code: number): Promise<never> => {
    if (!aborting) {
      aborting = true;
      o.say(`${why}: stopping workers and redis-server; logs kept in ${o.dir}`);
      await supervisor.stop().catch(() => {});
      await o.beforeServerClose?.().catch(() => {});
      await o.server.close().catch(() => {});
    }
    process.exit(code);
  };
  process.once('SIGINT', () => void abort('interrupted', 130));
  process.once('SIGTERM', () => void abort('terminated', 143));
  process.once('uncaughtException', (err) => void abort(`failed: ${err.stack ?? err}`, 2));
  watchParents(o.parentPollMs ?? 1000, (why) => void abort(why, 129));
  const live = async () => (await Promise.all(shards.all.map((k) => o.redis.keys(k.extra('liveness:*'))))).flat().filter(isLivenessMarker).length;
  const allLive = async (everyMs: number) => {
    while ((await live()) < config.stages.length * o.workers * shards.count) await sleep(everyMs);
  };
  const finish = async (failures: readonly string[], keep: boolean, connections: readonly Redis[]): Promise<never> => {
    for (const c of [o.redis, ...connections]) c.disconnect();
    await o.server.close();
    if (failures.length) process.stdout.write(`FAILED: ${failures.join('; ')}\nlogs: ${o.dir}\n`);
    else if (keep) process.stdout.write(`kept: ${o.dir}\n`);
    else rmSync(o.dir, { recursive: true, force: true });
    process.exit(failures.length ? 1 : 0);
  };
  return { config, units, shards, supervisor, abort, allLive, finish };
}
