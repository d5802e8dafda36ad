import { hostname } from 'node:os';
import type { ResolvedConfig } from '../config/types.js';
import { findStage } from '../config/load.js';
import { progressFileFor } from '../config/processes.js';

export { progressFileFor };
import { ConfigError } from '../core/errors.js';
import { createLogger, type Logger } from '../observe/logger.js';
import { COMMAND, Connections } from '../redis/connections.js';
import { consumerName } from '../redis/keys.js';
import type { StageFactory } from './stage.js';
import { Worker, type WorkerOptions } from './worker.js';
import { fusedWithin, mayFuse } from '../config/fusion-plan.js';
import { ProcessGauges } from './process-gauges.js';

export interface StageProcessOptions {
  config: ResolvedConfig;
  /** The stages this process runs (names; at least one). */
  stages: readonly string[];
  /** Stage kinds → factories (stages/index.ts). */
  kinds: Record<string, StageFactory>;
  /** Which shards each stage reads (config `shards` > 1). @defaultValue every shard */
  shards?: readonly number[];
  /** Reader index within the process, part of the consumer name. @defaultValue 0 */
  index?: number;
  /** Every stage's logger is this one's child with `stage`. @defaultValue JSON lines on stdout with stage and consumer */
  logger?: Logger;
  /**
   * The watchdogs' progress file (exec probes). With several stages, each stage writes its own,
   * `progressFileFor(file, stage)`, so a stalled stage is not hidden by a busy one.
   * @defaultValue env PROGRESS_FILE, else none
   */
  progressFile?: string;
  /** The commands each stage will run, checked with ACL DRYRUN at start (WorkerOptions.permissionProbes). @defaultValue none */
  permissionProbes?: WorkerOptions['permissionProbes'];
  /** Told of every error of the process's Redis connections (the CLI explains a failed run by the last one: `pipeline worker` with a database Redis does not have). @defaultValue none */
  onConnectionError?: (err: Error) => void;
}

/**
 * Let each stage's consumers hand records they route to one stream alone straight to the local
 * consumer of that stream (lib/worker/fusion.ts) when `mayFuse` says so (lib/config/fusion-plan.ts);
 * each consumer's liveness marker says which stages it so runs (`fuses`), for views that do not
 * share the workers' environment (their REDIS_URL_<STAGE>).
 */
function fuseStages(config: ResolvedConfig, workers: readonly Worker[]): void {
  const bySource = new Map(workers.flatMap((w) => w.consumers.map((c) => [c.source, { stage: w.stage, consumer: c }] as const)));
  const stages = workers.map((w) => w.stage);
  const fused = fusedWithin(config, stages);
  for (const w of workers) {
    const fuses = fused.filter((r) => r.from === w.stage.name).map((r) => r.to);
    for (const c of w.consumers) {
      c.fuseInto((key) => {
        const local = bySource.get(key);
        // A paused stage (`pipeline pause`) runs nothing, fused either: what is routed to it waits in its stream.
        return local && mayFuse(w.stage, local.stage) && local.consumer.paused === undefined ? local.consumer : undefined;
      });
      c.watchdog.describe({ fuses });
    }
  }
}

/**
 * One worker process running one or several stages (config `process`, lib/config/processes.ts;
 * `pipeline worker a,b,c`). Each stage is a full `Worker`: its own consumer group, blocking reader,
 * hand-off, reclaimer, watchdog, logs and metrics, so reclaim, dead-lettering, scaling signals
 * and liveness stay per stage. What they share is the process: one JS thread, and one
 * auto-pipelined command connection per distinct Redis URL (one, unless stages have their own
 * `REDIS_URL_<STAGE>` users), so the process holds readers + 1 connections.
 * One stage alone is exactly a `Worker`, with its connections named as always.
 */
export class StageProcess {
  readonly workers: readonly Worker[];
  /** The process's connections, one set per distinct Redis URL (empty with one stage: the worker owns its own). */
  readonly connections: readonly Connections[];
  readonly logger: Logger;
  /** The process's name: its config `process` when it runs exactly that group, else the stage names joined by `+`. */
  readonly name: string;
  private closing?: Promise<void>;
  private gauges?: ProcessGauges;
  private readonly consumer: string;
  private readonly metricsSettings: ResolvedConfig['metrics'];

  constructor(opts: StageProcessOptions) {
    const { config } = opts;
    const names = [...new Set(opts.stages)];
    if (names.length === 0) throw new ConfigError('stages', 'a worker process needs at least one stage');
    const stages = names.map((n) => findStage(config, n));
    const group = config.processes.find((p) => p.stages.length === names.length && names.every((n) => p.stages.includes(n)));
    this.name = group?.name ?? names.join('+');
    const consumer = consumerName(hostname(), process.pid, opts.index ?? 0);
    this.consumer = consumer;
    this.metricsSettings = config.metrics;
    const base = { config, stages: opts.kinds, index: opts.index, shards: opts.shards, permissionProbes: opts.permissionProbes };
    if (stages.length === 1) {
      const w = new Worker({
        ...base,
        stage: names[0]!,
        logger: opts.logger?.child({ stage: names[0] }),
        progressFile: opts.progressFile,
        onConnectionError: opts.onConnectionError,
      });
      this.workers = [w];
      this.connections = [];
      this.logger = w.logger;
      return;
    }
    this.logger = opts.logger ?? createLogger({ process: this.name, consumer });
    const byUrl = new Map<string, Connections>();
    const workers: Worker[] = [];
    const file = opts.progressFile ?? process.env.PROGRESS_FILE;
    for (const stage of stages) {
      let connections = byUrl.get(stage.redisUrl);
      if (!connections) {
        connections = new Connections({
          url: stage.redisUrl,
          name: `${this.name}:${consumer}`,
          logger: this.logger,
          // Each error counted once: a reader's (`<stage>:<consumer>:read...`) under its stage, the shared
          // command connection's under the first stage using it (it had been counted under every stage).
          onError: (err, connection) => {
            const users = workers.filter((w) => w.stage.redisUrl === stage.redisUrl);
            const reader =
              connection === `${this.name}:${consumer}:${COMMAND}` ? undefined : users.find((w) => connection.startsWith(`${w.stage.name}:${consumer}:`));
            const owner = reader ?? users[0];
            owner?.metrics.increment('redis.connection_errors', 1, { stage: owner.stage.name });
            opts.onConnectionError?.(err);
          },
        });
        byUrl.set(stage.redisUrl, connections);
      }
      workers.push(
        new Worker({
          ...base,
          stage: stage.name,
          connections,
          logger: opts.logger?.child({ stage: stage.name, consumer }),
          progressFile: file && progressFileFor(file, stage.name),
        }),
      );
    }
    this.workers = workers;
    this.connections = [...byUrl.values()];
    fuseStages(config, workers);
  }

  /**
   * Load every stage (their `init`s, e.g. models, run concurrently), and only then start them all reading, until
   * stop(). If one stage fails to start or its loop ends in an error, the others are stopped
   * (they drain) and the error is thrown: the supervisor restarts the whole process.
   */
  async run(): Promise<void> {
    if (this.workers.length > 1) this.logger.info('process.starting', { stages: this.workers.map((w) => w.stage.name), connections: this.connectionCount });
    const m = this.metricsSettings;
    if (m.enabled) this.gauges = new ProcessGauges(this.workers, this.consumer, m.gaugeIntervalMs).start();
    try {
      if (this.workers.length === 1) return await this.workers[0]!.run();
      // Every stage loaded before any reads: a record fused from preprocess into a classify still
      // loading its model failed its batch (`stage.batch_error`) and went the long way round.
      const prepared = await Promise.all(this.workers.map((w) => w.prepare()));
      if (prepared.every(Boolean)) await Promise.all(this.workers.map((w) => w.serve()));
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** Readers + command connections this process holds (opened so far). */
  get connectionCount(): number {
    if (this.connections.length === 0) return this.workers[0]!.connections.count;
    return this.connections.reduce((n, c) => n + c.count, 0);
  }

  /**
   * Stop every stage: first all drain their batches in flight (concurrently; one may still run
   * another fused), then each closes its stage, then the shared connections close. Memoised.
   */
  stop(): Promise<void> {
    this.closing ??= (async () => {
      this.gauges?.stop();
      await Promise.all(this.workers.map((w) => w.drain()));
      await Promise.all(this.workers.map((w) => w.stop()));
      await Promise.all(this.connections.map((c) => c.close()));
    })();
    return this.closing;
  }
}
