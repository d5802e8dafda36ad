import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { Autoscaler } from '../../lib/ops/autoscaler.js';
import type { ResolvedConfig, ResolvedProcess, ResolvedStage, SupervisorSettings } from '../../lib/config/types.js';
import { processOptions, stagesNamed } from '../../lib/config/processes.js';
import { SHUTDOWN_GRACE_MS } from '../../lib/config/checks.js';
import { GaugeSampler, needsSampler } from '../../lib/ops/gauges.js';
import { createLogger, type Logger } from '../../lib/observe/logger.js';
import { createMetrics, noopMetrics, type Metrics } from '../../lib/observe/metrics.js';
import { Connections } from '../../lib/redis/connections.js';
import { consumerName } from '../../lib/redis/keys.js';
import { reapOrphanedServers } from '../../lib/redis/server-owner.js';
import { refuseClusterNode } from '../../lib/redis/cluster-node.js';
import { onShutdownSignal } from '../../lib/worker/shutdown.js';
import { PARENT_POLL_MS } from '../../lib/core/parent-watch.js';
import { Supervisor } from '../../lib/ops/supervisor.js';
import { handOverDead } from '../../lib/ops/dead-handover.js';
import type { FastifyInstance } from 'fastify';
import { BIN, cliRedis, loadConfig, refuseTlsMismatch, warnEvictionPolicy, type GlobalOptions } from './common.js';
import { refuseEvictingPolicy } from '../../lib/redis/policy.js';
import { apiRedisUrl, serveHost, servePort, startServer } from './serve.js';
import { checkBeforeStart } from './start-checks.js';

export interface UpOptions extends GlobalOptions {
  stages?: string;
  /** commander's `--no-autoscale`. @defaultValue true */
  autoscale?: boolean;
  /** Also serve the HTTP API (`pipeline serve`) in this process (as env PIPELINE_API_REDIS_URL's user when set). */
  serve?: boolean;
  port?: string;
  host?: string;
  /** Stop as on SIGTERM once a process `up` was started under (npm, npx, sh) is gone; polled this often, 0: never. @defaultValue PARENT_POLL_MS (1000) */
  parentPollMs?: string;
}

export interface SpawnSettings {
  /** Config file the children load. */
  configPath?: string;
  /** Environment for the children (REDIS_URL etc.). */
  env?: NodeJS.ProcessEnv;
  /** Where children's stdout/stderr go. @defaultValue inherit */
  stdio?: 'inherit' | 'ignore' | number;
  /** Receives `supervisor.restarts` and the `workers` gauge. @defaultValue no-op */
  metrics?: Metrics;
  /**
   * Start workers in their own process group, so a terminal's Ctrl-C reaches only the supervisor,
   * which then SIGTERMs each worker once (sharing the group, a worker gets SIGINT and then SIGTERM,
   * and the second signal forces exit 130 without draining). Only for a caller that handles
   * SIGINT/SIGTERM and stops the supervisor. @defaultValue false
   */
  detached?: boolean;
  /**
   * The worker processes by the name the supervisor scales them under, each with the stages it
   * runs (`pipeline worker a,b,c`). @defaultValue a name is one stage's name
   */
  units?: readonly ResolvedProcess[];
  /** How long a worker of a unit may drain after SIGTERM before SIGKILL (`unitKillAfterMs`). @defaultValue the Supervisor's 60 s */
  killAfterMs?: (unit: string) => number;
  /** Restart backoff and crash-loop reporting (config `supervisor`). @defaultValue SUPERVISOR_DEFAULTS */
  restart?: SupervisorSettings;
  /**
   * Also send the `workers` gauge of every stage this often until stop() (`metrics.gaugeIntervalMs`):
   * statsd_exporter drops a series unheard for its TTL, and a run without changes had sent it once.
   * @defaultValue only on changes
   */
  workersGaugeIntervalMs?: number;
  /**
   * The config the workers run (with the same environment): a worker process that exits (a crash, a
   * SIGKILL, a drain cut short) has its consumers' pending entries made claimable at once
   * (lib/ops/dead-handover.ts), each stage reached as its own Redis user, so the restarted worker or
   * a sibling takes them over within a reclaimer pass. @defaultValue none: they wait `claimMinIdleMs`
   */
  config?: ResolvedConfig;
}

/** A unit's SIGKILL deadline after SIGTERM: its process's `drainTimeoutMs` + 10 s, the grace period the deploy files give. */
export function unitKillAfterMs(config: ResolvedConfig, units: readonly ResolvedProcess[]): (unit: string) => number {
  return (unit) => {
    const p = units.find((u) => u.name === unit) ?? { name: unit, stages: [unit] };
    return processOptions(config, p).drainTimeoutMs + SHUTDOWN_GRACE_MS;
  };
}

/** A supervisor whose workers are `pipeline worker <stage>[,<stage>...]` child processes, one slot name per process kind. */
export function createSupervisor(s: SpawnSettings, logger = createLogger({ component: 'supervisor' })): Supervisor {
  const out = s.stdio ?? 'inherit';
  const metrics = s.metrics ?? noopMetrics;
  const stagesOf = (unit: string) => s.units?.find((u) => u.name === unit)?.stages ?? [unit];
  // Every unit's stages for the periodic `workers` gauge, those scaled to zero too (a unit not in `units` once it started).
  const seen = new Set<string>(s.units?.map((u) => u.name));
  let resend: NodeJS.Timeout | undefined;
  const supervisor: Supervisor = new Supervisor({
    logger,
    ...s.restart,
    ...(s.killAfterMs ? { killAfterMs: s.killAfterMs } : {}),
    processGroups: s.detached ?? false,
    ...(s.config ? { afterExit: handOverAfterExit(s.config, stagesOf, logger, metrics) } : {}),
    spawn: (unit) =>
      spawn(process.execPath, [BIN, 'worker', stagesOf(unit).join(','), ...(s.configPath ? ['--config', s.configPath] : [])], {
        // The IPC channel is how a worker learns that its supervisor is gone (killed, or its terminal hung up): it drains and exits.
        stdio: ['ignore', out, out, 'ipc'],
        // Nothing probes these workers: one whose stage call hangs for good ends itself, and is restarted (docs/reliability.md).
        env: { EXIT_ON_HUNG: '1', ...(s.env ?? process.env) },
        detached: s.detached ?? false,
      }),
    onEvent: (event, unit) => {
      seen.add(unit);
      if (event === 'stop') clearInterval(resend);
      // Per stage, as with one process per stage: each stage of a process has that many running workers (0 after stop()).
      for (const stage of stagesOf(unit)) {
        if (event === 'restart') metrics.increment('supervisor.restarts', 1, { stage });
        metrics.gauge('workers', supervisor.running(unit), { stage });
      }
    },
  });
  resend = s.workersGaugeIntervalMs
    ? setInterval(() => {
        for (const unit of seen) for (const stage of stagesOf(unit)) metrics.gauge('workers', supervisor.running(unit), { stage });
      }, s.workersGaugeIntervalMs).unref()
    : undefined;
  return supervisor;
}

/** The Supervisor's `afterExit`: the dead worker process's pending entries, of every stage it ran, handed over. */
function handOverAfterExit(config: ResolvedConfig, stagesOf: (unit: string) => readonly string[], logger: Logger, metrics: Metrics) {
  return (unit: string, pid: number, exit: { code: number | null; signal: NodeJS.Signals | null }, exitedAt: number) =>
    handOverDead({ config, stages: stagesOf(unit), pid, exit, exitedAt, logger, metrics });
}

/** The config's worker processes restricted to `stages` (a process keeps its name with the stages selected from it). */
export function processUnits(config: ResolvedConfig, stages: readonly string[]): ResolvedProcess[] {
  return config.processes.map((p) => ({ name: p.name, stages: p.stages.filter((n) => stages.includes(n)) })).filter((p) => p.stages.length > 0);
}

/** The stages `--stages` names (stage and process names, as `pipeline worker` takes them), in config order; all without it. */
export function selectStages(config: ResolvedConfig, list?: string): string[] {
  return list ? stagesNamed(config, list) : config.stages.map((s) => s.name);
}

/** Workers a process starts with: its minimum (processOptions); at least 1 unless the autoscaler can wake it from zero. */
export function initialWorkers(p: Pick<ResolvedStage, 'minWorkers' | 'maxWorkers'>, autoscale: boolean): number {
  return autoscale && p.maxWorkers > p.minWorkers ? p.minWorkers : Math.max(1, p.minWorkers);
}

/** The supervisor process's own pieces: one Redis connection (shared by sampler and autoscaler), metrics, logs. */
export interface ControlPlane {
  autoscaler?: Autoscaler;
  gauges?: GaugeSampler;
  stop(): Promise<void>;
}

/**
 * Beside the workers, `pipeline up` runs the pipeline's single gauge sampler (when metrics are on or an age cap is set)
 * and the autoscaler (for stages with maxWorkers > minWorkers), over one command connection
 * (named `supervisor:<host-pid-0>:cmd`), opened only when one of them runs.
 */
export function startControlPlane(
  config: ResolvedConfig,
  stages: string[],
  supervisor: Supervisor,
  logger: Logger,
  metrics: Metrics,
  autoscale: boolean,
): ControlPlane {
  const scaled = autoscale && config.stages.some((s) => stages.includes(s.name) && s.maxWorkers > s.minWorkers);
  if (!scaled && !needsSampler(config)) return { stop: async () => {} }; // nothing to sample: no connection
  const connections = new Connections({ url: config.redis.url, name: `supervisor:${consumerName(hostname(), process.pid, 0)}`, logger });
  const redis = connections.command();
  const units = processUnits(config, stages);
  const autoscaler = scaled ? new Autoscaler({ redis, config, stages, units, target: supervisor, logger, metrics }) : undefined;
  autoscaler?.start();
  const gauges = needsSampler(config) ? new GaugeSampler({ redis, config, metrics, logger }) : undefined;
  gauges?.start();
  return {
    autoscaler,
    gauges,
    async stop() {
      await autoscaler?.stop();
      await gauges?.stop();
      await connections.close();
    },
  };
}

/**
 * Fail now, with the CLI's one line and exit code (docs/cli.md), when Redis cannot be reached or
 * refuses, a `redis://` URL points at a Cluster node, or Redis evicts any key at maxmemory
 * (`allkeys-*`, which every worker refuses): not workers retrying (or restarted) for ever.
 */
export async function pingRedis(url: string): Promise<void> {
  const redis = cliRedis(url);
  try {
    await redis.ping();
    await refuseClusterNode(redis);
    refuseEvictingPolicy(await warnEvictionPolicy(redis));
  } finally {
    redis.disconnect();
  }
}

/** `pipeline up`: every stage as child processes (stages with one `process` in one), restarted when they crash, autoscaled on backlog. */
export async function upCommand(opts: UpOptions): Promise<void> {
  const config = loadConfig(opts);
  refuseTlsMismatch([config.redis.url, ...config.stages.map((s) => s.redisUrl), ...(opts.serve ? [apiRedisUrl(config)] : [])]);
  const logger = createLogger({ component: 'supervisor' });
  const autoscale = opts.autoscale !== false;
  const stages = selectStages(config, opts.stages);
  // A broken `module:` stage or model folder is a ConfigError naming the stage now, not a crash loop of its workers.
  await checkBeforeStart(config, stages);
  // A redis-server a killed `pipeline start` left behind (its watcher killed too) is stopped now.
  await reapOrphanedServers({ logger });
  await pingRedis(config.redis.url);
  const metrics = createMetrics(config.metrics, { pipeline: config.pipeline }, logger);
  const units = processUnits(config, stages);
  const supervisor = createSupervisor(
    {
      configPath: opts.config,
      metrics,
      detached: true,
      units,
      killAfterMs: unitKillAfterMs(config, units),
      restart: config.supervisor,
      workersGaugeIntervalMs: config.metrics.gaugeIntervalMs,
      config,
    },
    logger,
  );
  let control: ControlPlane | undefined;
  let api: FastifyInstance | undefined;
  // The handler is in place before any worker starts: detached workers must never outlive a Ctrl-C
  // (a second one SIGKILLs their process groups), a SIGHUP or a failed start; a SIGKILL to `up`
  // closes their IPC channel, and they drain and exit; npm or npx signalled alone (`npx pipeline up &`,
  // `kill $!`) does not pass the signal on, so `up` stops the same way once they are gone.
  const stopped = new Promise<void>((resolve) =>
    onShutdownSignal(
      async () => {
        supervisor.hold(); // no restart from here on
        try {
          // The API's close and the workers' SIGTERM together: against a frozen Redis the API's close waits out
          // its checks and connections, which would hold the workers' drain back. A submission the API
          // still takes meanwhile is in Redis for the next run. A stopping supervisor ignores the autoscaler.
          await Promise.all([api?.close(), supervisor.stop(), control?.stop()]);
        } finally {
          await metrics.close();
          resolve();
        }
      },
      logger,
      { force: () => supervisor.kill(), parentPollMs: Number(opts.parentPollMs ?? PARENT_POLL_MS) },
    ),
  );
  try {
    // The API binds before any worker starts: a port in use is one error line, with nothing left running.
    if (opts.serve) api = await startServer(config, { host: serveHost(opts.host), port: servePort(opts.port) });
    for (const unit of units) supervisor.scale(unit.name, initialWorkers(processOptions(config, unit), autoscale));
    control = startControlPlane(config, stages, supervisor, logger, metrics, autoscale);
  } catch (err) {
    await Promise.all([supervisor.stop(), api?.close(), control?.stop()]);
    throw err;
  }
  await stopped;
}
