import { hostname } from 'node:os';
import type { ResolvedConfig, ResolvedStage } from '../config/types.js';
import { findStage } from '../config/load.js';
import { StreamConsumer } from './consumer.js';
import { ConfigError, PermissionError } from '../core/errors.js';
import { LogStream } from '../observe/log-stream.js';
import { createLogger, type Logger } from '../observe/logger.js';
import { createMetrics, type Metrics } from '../observe/metrics.js';
import { Connections } from '../redis/connections.js';
import { diagnoseRedisError } from '../redis/diagnose.js';
import { urlUser, whoAmI } from '../redis/noperm.js';
import { dryRun, type DryRunProbe } from '../redis/acl-dryrun.js';
import { clusterNodeError, refuseClusterNode } from '../redis/cluster-node.js';
import { awaitLibrary, library } from '../redis/functions.js';
import { checkEvictionPolicy, refuseEvictingPolicy } from '../redis/policy.js';
import { consumerName, Keys } from '../redis/keys.js';
import { Reclaimer } from './reclaimer.js';
import { waitOutAtStart } from './start-wait.js';
import { compileRoutes } from '../stream/router.js';
import { configShards } from '../redis/shard.js';
import { PolicyWatch } from './policy-watch.js';
import { DataLossWatch } from './data-loss-watch.js';
import { shardCallers } from './shard-calls.js';
import type { Stage, StageFactory } from './stage.js';

export interface WorkerOptions {
  config: ResolvedConfig;
  /** Which stage of the config this process runs. */
  stage: string;
  /** Stage kinds → factories (stages/index.ts). */
  stages: Record<string, StageFactory>;
  /** Reader index within the process, part of the consumer name. @defaultValue 0 */
  index?: number;
  /** Which shards of the stage's input this worker reads (config `shards` > 1), one blocking reader each. @defaultValue every shard */
  shards?: readonly number[];
  /** @defaultValue JSON lines on stdout with stage and consumer */
  logger?: Logger;
  /** @defaultValue StatsD from config, or no-op */
  metrics?: Metrics;
  /**
   * The process's connections when it runs several stages (lib/worker/process.ts): this worker's
   * readers are opened in it under the stage's name and its command connection is shared; the
   * owner closes them, not this worker. @defaultValue the worker's own (closed by stop())
   */
  connections?: Connections;
  /** File the watchdog rewrites while the loop progresses (exec probes). @defaultValue env PROGRESS_FILE, else none */
  progressFile?: string;
  /** Told of every error of the worker's own connections (the CLI explains a failed run by the last one). @defaultValue none */
  onConnectionError?: (err: Error) => void;
  /**
   * The commands the stage will run, checked against the worker's Redis user with ACL DRYRUN at
   * start (lib/ops/acl-grants.ts `stageProbes`): a refused one stops the start with a
   * PermissionError (`pipeline worker` exits 13). @defaultValue none: not checked
   */
  permissionProbes?: (stage: ResolvedStage) => DryRunProbe[];
}

/**
 * One stage consumer in this process: a dedicated blocking connection for its reads plus the
 * shared command connection, so the process holds exactly 2 connections whatever its load.
 * A sharded pipeline (config `shards` > 1) gets one consumer and reclaimer per shard it reads,
 * each with that shard's keys and its own blocking reader (`read:<shard>`), all sharing the one
 * stage instance and the one command connection: shards read + 1 connections (on a Redis Cluster,
 * clients: docs/scale-out.md).
 */
export class Worker {
  /** The first shard's consumer and reclaimer (the only ones when the pipeline is unsharded). */
  readonly consumer: StreamConsumer;
  readonly reclaimer: Reclaimer;
  /** One per shard read, in shard order. */
  readonly consumers: readonly StreamConsumer[];
  readonly reclaimers: readonly Reclaimer[];
  /** The shard numbers this worker reads ([0] when unsharded). */
  readonly shards: readonly number[];
  readonly connections: Connections;
  /** The stage this worker runs, resolved. */
  readonly stage: ResolvedStage;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** The optional Redis log stream (config `logs.stream`), written through the shared command connection. */
  readonly logStream?: LogStream;
  /** Whether Redis lost the pipeline's data under this worker (its group vanished, the data-loss marker went): lib/worker/data-loss-watch.ts. */
  readonly dataLoss: DataLossWatch;
  /** Whether Redis's maxmemory-policy changes to one that evicts after start: lib/worker/policy-watch.ts. */
  private readonly policyWatch: PolicyWatch;
  private policyAtStart: string | undefined;
  private readonly impl: Stage;
  private started = false;
  private startedAt = 0;
  private readonly retry: { retryBaseMs: number; retryMaxMs: number };
  private closing?: Promise<void>;
  private draining?: Promise<void>;
  private readonly ownsConnections: boolean;
  private requestStop!: () => void;
  private readonly probes?: DryRunProbe[];
  /** The Redis user the worker runs as (ACL WHOAMI at start). */
  redisUser: string;
  /** Resolves when stop() is first called. */
  private readonly stopRequested = new Promise<void>((resolve) => (this.requestStop = resolve));

  constructor(opts: WorkerOptions) {
    const { config } = opts;
    const stage = findStage(config, opts.stage);
    this.stage = stage;
    this.retry = { retryBaseMs: stage.retryBaseMs, retryMaxMs: stage.retryMaxMs };
    const name = consumerName(hostname(), process.pid, opts.index ?? 0);
    if (config.logs.stream && !opts.logger) this.logStream = new LogStream({ ...config.logs, key: new Keys(config.pipeline).extra('logs') });
    this.logger = opts.logger ?? createLogger({ stage: stage.name, consumer: name }, undefined, this.logStream?.tee());
    this.metrics = opts.metrics ?? createMetrics(config.metrics, { pipeline: config.pipeline, stage: stage.name }, this.logger);
    const keys = new Keys(config.pipeline);
    this.redisUser = urlUser(stage.redisUrl);
    this.probes = opts.permissionProbes?.(stage);
    this.ownsConnections = !opts.connections;
    this.connections =
      opts.connections?.forStage(`${stage.name}:${name}`) ??
      new Connections({
        url: stage.redisUrl,
        name: `${stage.name}:${name}`,
        logger: this.logger,
        onError: (err) => {
          this.metrics.increment('redis.connection_errors', 1, { stage: stage.name });
          opts.onConnectionError?.(err);
        },
      });
    this.logStream?.attach(this.connections.command(), this.metrics);
    const factory = opts.stages[stage.kind];
    if (!factory) throw new ConfigError(`stages.${stage.name}.kind`, `unknown stage kind ${JSON.stringify(stage.kind)}`);
    const ctx = { config, stage, keys, redis: this.connections.command(), logger: this.logger, metrics: this.metrics };
    this.impl = factory(ctx);
    const router = compileRoutes(config.routes, config.stages, config.streams.terminal).get(stage.name);
    if (this.impl.sink && router) throw new ConfigError(`routes.${stage.name}`, `stage ${stage.name} is a sink (${stage.kind}) and takes no routes`);
    if (!this.impl.sink && !router) throw new ConfigError(`routes.${stage.name}`, `stage ${stage.name} has no routing rules`);
    const space = configShards(config);
    this.shards = opts.shards?.length ? [...opts.shards] : space.all.map((_, i) => i);
    // One batch at a time over the shards, or one per shard for a stage that says `concurrentShards` (lib/worker/shard-calls.ts).
    const callers = shardCallers(this.impl, this.shards, opts.connections !== undefined);
    const consumers: StreamConsumer[] = [];
    const reclaimers: Reclaimer[] = [];
    const keysOf = (i: number) => (space.count === 1 ? keys : space.shard(i));
    const witness = { stage: stage.name, consumer: name, logger: this.logger, metrics: this.metrics, intervalMs: stage.dataLossCheckMs };
    this.dataLoss = new DataLossWatch(this.shards.map(keysOf), { ...witness, redis: () => this.connections.command() });
    this.policyWatch = new PolicyWatch({ ...witness, redis: () => this.connections.command() });
    for (const i of this.shards) {
      // Unsharded: exactly the connections and keys of before. Sharded: the shard's keys and reader.
      const shardKeys = keysOf(i);
      const connections = space.count === 1 ? this.connections : this.connections.scoped(String(i));
      const deps = {
        config,
        stage,
        impl: callers.get(i)!,
        router,
        connections,
        keys: shardKeys,
        consumer: name,
        logger: this.logger,
        metrics: this.metrics,
        progressFile: opts.progressFile,
        dataLoss: this.dataLoss,
      };
      const consumer = new StreamConsumer(deps);
      // The model it loaded, in its liveness marker: `pipeline reprocess` compares it with the files it sees (lib/ops/model-workers.ts).
      if (this.impl.modelVersion !== undefined) consumer.watchdog.describe({ modelVersion: this.impl.modelVersion });
      consumers.push(consumer);
      reclaimers.push(new Reclaimer(deps, consumer));
    }
    this.consumers = consumers;
    this.reclaimers = reclaimers;
    this.consumer = consumers[0]!;
    this.reclaimer = reclaimers[0]!;
  }

  /** Load the stage (models), join the group, start reading and reclaiming. Resolves when reading stops. */
  async run(): Promise<void> {
    if (await this.prepare()) await this.serve();
  }

  /**
   * Everything before reading: load the stage (models), the Functions library, join the group.
   * False when stopped meanwhile. A process of several stages prepares them all before any reads
   * (lib/worker/process.ts): a stage fused into another must be loaded before it is called.
   */
  async prepare(): Promise<boolean> {
    if (this.started) throw new Error('worker already started');
    this.started = true;
    this.startedAt = Date.now();
    const startUp = (async () => {
      await this.impl.init?.();
      // Redis full (OOM) or unavailable at start is waited out here, as a running worker waits it out.
      const wait = {
        ...this.retry,
        stopping: () => this.closing !== undefined,
        // A connection refused for good (no such database, credentials, TLS) is not waited out: the process exits naming it.
        refused: (err: unknown) => diagnoseRedisError(err, this.connections.lastConnectionError)?.retryable === false,
        logger: this.logger,
        metrics: this.metrics,
        tags: { stage: this.stage.name },
      };
      // A redis:// URL at a Cluster node: refused now (ClusterNodeError, exit 19), not a worker that MOVED restarts in a loop.
      await refuseClusterNode(this.connections.command());
      await waitOutAtStart('functions', () => this.awaitFunctions(), wait);
      this.policyAtStart = refuseEvictingPolicy(
        await checkEvictionPolicy(this.connections.command(), (line, policy) =>
          this.logger.warn('redis.eviction_policy', { policy: policy ?? null, err: line }),
        ),
      );
      // Who this worker is to Redis, for the lines that say a permission is missing (the URL's user when ACL WHOAMI is refused),
      // and whether it may run what its stage will run, before it touches its group.
      this.redisUser = await whoAmI(this.connections.command(), this.stage.redisUrl);
      for (const c of this.consumers) c.permissions.user = this.redisUser;
      if (this.probes) await this.checkPermissions(this.probes);
      const groups = () =>
        Promise.all(this.consumers.map((c) => c.ensureGroup())).catch((err: unknown) => {
          throw clusterNodeError(this.connections.command(), err) ?? err;
        });
      await waitOutAtStart('groups', groups, wait);
      // The data-loss marker of each shard: written if absent (a fresh Redis), remembered; if Redis refuses now (full), the first check does it.
      await this.dataLoss.adopt().catch((err: unknown) => this.logger.warn('redis.data_loss_marker_error', { err }));
    })();
    startUp.catch(() => undefined); // settled below, or abandoned by a stop
    try {
      // A start-up command queued while Redis is unreachable never settles once stop() closes its
      // connection: a stop ends the wait (the process had exited 13, an unsettled top-level await).
      await Promise.race([startUp, this.stopRequested]);
    } catch (err) {
      // Stopped (SIGTERM) while starting: stop() closed the connections under the start-up calls. Nothing was read yet.
      if (this.closing) return false;
      throw err;
    }
    return !this.closing;
  }

  /** Start reclaiming and reading (after prepare()). Resolves when reading stops. */
  async serve(): Promise<void> {
    if (this.closing) return;
    for (const r of this.reclaimers) r.start();
    this.dataLoss.start();
    this.policyWatch.start(this.policyAtStart);
    this.logger.info('worker.started', {
      initMs: Date.now() - this.startedAt,
      kind: this.impl.kind,
      model: this.impl.model,
      redisUser: this.redisUser,
      // Its own connections; in a process of several stages the process's count is on `process.starting`.
      ...(this.ownsConnections ? { connections: this.consumers.length + 1 } : { connections: 'shared (process.starting)' }),
      // Always, also for a worker of shard 0 alone (it had been left out then, as if unsharded): `[0]` unsharded.
      shards: this.shards,
    });
    await Promise.all(this.consumers.map((c) => c.run()));
  }

  /**
   * Every command the stage will run, checked against this worker's Redis user (ACL DRYRUN, nothing
   * run): a missing permission refuses the start, naming the user, the commands, the keys and
   * `pipeline acl --apply` (the worker had started and then waited on, or dead-lettered, every
   * record). A user that may not run ACL DRYRUN is not checked (said once): refusals then show as
   * they come (`redis.noperm`).
   */
  private async checkPermissions(probes: DryRunProbe[]): Promise<void> {
    const r = await dryRun(this.connections.command(), this.redisUser, probes);
    if (r === 'ok') return;
    if (r instanceof PermissionError) {
      this.logger.error('redis.noperm', { where: 'start', user: r.user, command: r.command, keys: r.keys, fix: r.fix, err: r });
      throw r;
    }
    this.logger.warn('worker.permissions_unchecked', { user: this.redisUser, reason: r.unchecked });
  }

  /**
   * The pipeline's Functions library must be on the server before the first FCALL: load it if this
   * user may, else say so in one line and check again with the stage's retry backoff until an
   * admin loads it (`pipeline acl --apply`).
   */
  private async awaitFunctions(): Promise<void> {
    const { retryBaseMs, retryMaxMs } = this.retry;
    const lib = library();
    const r = await awaitLibrary(this.connections.command(), {
      retryBaseMs,
      retryMaxMs,
      stopping: () => this.closing !== undefined,
      keys: this.consumers.map((c) => c.source),
      onWait: (err) => this.logger.warn('functions.missing', { library: lib.name, err: err.message }),
    });
    if (r !== 'present') this.logger.info(r === 'loaded' ? 'functions.loaded' : 'functions.ready', { library: lib.name });
  }

  /**
   * Stop reading and drain the batches in flight, leaving the stage open (other stages of the
   * process may still run it fused). Consumers and reclaimers stop together, under one
   * `drainTimeoutMs`: one after the other, a Redis that did not answer made shutdown take twice
   * that, past the grace period the deploy files give (drainTimeoutMs + 10 s). Memoised: the
   * process drains every stage, then stops each (which drains too), and a second wait for a pass
   * a frozen Redis holds took shutdown to twice `drainTimeoutMs`.
   */
  drain(): Promise<void> {
    return (this.draining ??= this.drainOnce());
  }

  private async drainOnce(): Promise<void> {
    const watch = { stop: () => Promise.all([this.dataLoss.stop(this.stage.drainTimeoutMs), this.policyWatch.stop(this.stage.drainTimeoutMs)]) };
    const stopping = [
      ...this.consumers.map((c) => ['consumer', c] as const),
      ...this.reclaimers.map((r) => ['reclaimer', r] as const),
      ['data-loss', watch] as const,
    ];
    await Promise.all(
      stopping.map(([step, x]) =>
        x.stop().catch((err: unknown) => {
          this.logger.error('worker.stop_error', { step, err });
        }),
      ),
    );
  }

  /** Stop reading, drain the batch in flight, stop background loops, close the stage, QUIT. Memoised. */
  stop(): Promise<void> {
    this.requestStop();
    this.closing ??= (async () => {
      const steps: [string, () => Promise<void>][] = [
        ['drain', () => this.drain()],
        ['stage', async () => this.impl.close?.()],
        ['metrics', () => this.metrics.close()],
        ['logs', async () => this.logStream?.close()],
        ['connections', async () => (this.ownsConnections ? this.connections.close() : undefined)],
      ];
      for (const [name, step] of steps) {
        try {
          await step();
        } catch (err) {
          this.logger.error('worker.stop_error', { step: name, err });
        }
      }
      const sum = (xs: readonly { processed?: number; reclaimed?: number }[], k: 'processed' | 'reclaimed') => xs.reduce((n, x) => n + (x[k] ?? 0), 0);
      this.logger.info('worker.stopped', { processed: sum(this.consumers, 'processed'), reclaimed: sum(this.reclaimers, 'reclaimed') });
    })();
    return this.closing;
  }
}
