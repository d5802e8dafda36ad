import { hostname } from 'node:os';
import type { ResolvedConfig } from './config/types.js';
import { findStage } from './config/load.js';
import { StreamConsumer } from './consumer.js';
import { ConfigError } from './errors.js';
import { createLogger, type Logger } from './logger.js';
import { createMetrics, type Metrics } from './metrics.js';
import { Connections } from './redis/connections.js';
import { consumerName, Keys } from './redis/keys.js';
import { Reclaimer } from './reclaimer.js';
import { compileRoutes } from './router.js';
import type { Stage, StageFactory } from './stage.js';

export interface WorkerOptions {
  config: ResolvedConfig;
  /** Which stage of the config this process runs. */
  stage: string;
  /** Stage kinds → factories (stages/index.ts). */
  stages: Record<string, StageFactory>;
  /** Reader index within the process, part of the consumer name. @defaultValue 0 */
  index?: number;
  /** @defaultValue JSON lines on stdout with stage and consumer */
  logger?: Logger;
  /** @defaultValue StatsD from config, or no-op */
  metrics?: Metrics;
}

/**
 * One stage consumer in this process: a dedicated blocking connection for its reads plus the
 * shared command connection, so the process holds exactly 2 connections whatever its load.
 */
export class Worker {
  readonly consumer: StreamConsumer;
  readonly reclaimer: Reclaimer;
  readonly connections: Connections;
  readonly logger: Logger;
  readonly metrics: Metrics;
  private readonly impl: Stage;
  private started = false;
  private closing?: Promise<void>;

  constructor(opts: WorkerOptions) {
    const { config } = opts;
    const stage = findStage(config, opts.stage);
    const name = consumerName(hostname(), process.pid, opts.index ?? 0);
    this.logger = opts.logger ?? createLogger({ stage: stage.name, consumer: name });
    this.metrics = opts.metrics ?? createMetrics(config.metrics, { stage: stage.name }, this.logger);
    const keys = new Keys(config.pipeline);
    this.connections = new Connections({
      url: config.redis.url,
      name: `${stage.name}:${name}`,
      logger: this.logger,
      onError: () => this.metrics.increment('redis.connection_errors', 1, { stage: stage.name }),
    });
    const factory = opts.stages[stage.kind];
    if (!factory) throw new ConfigError(`stages.${stage.name}.kind`, `unknown stage kind ${JSON.stringify(stage.kind)}`);
    const ctx = { config, stage, keys, redis: this.connections.command(), logger: this.logger, metrics: this.metrics };
    this.impl = factory(ctx);
    const router = compileRoutes(config.routes, config.stages, config.streams.terminal).get(stage.name);
    if (this.impl.sink && router) throw new ConfigError(`routes.${stage.name}`, `stage ${stage.name} is a sink (${stage.kind}) and takes no routes`);
    if (!this.impl.sink && !router) throw new ConfigError(`routes.${stage.name}`, `stage ${stage.name} has no routing rules`);
    const deps = { config, stage, impl: this.impl, router, connections: this.connections, keys, consumer: name, logger: this.logger, metrics: this.metrics };
    this.consumer = new StreamConsumer(deps);
    this.reclaimer = new Reclaimer(deps, this.consumer);
  }

  /** Load the stage (models), join the group, start reading and reclaiming. Resolves when reading stops. */
  async run(): Promise<void> {
    if (this.started) throw new Error('worker already started');
    this.started = true;
    const t0 = Date.now();
    await this.impl.init?.();
    await this.consumer.ensureGroup();
    this.reclaimer.start();
    this.logger.info('worker.started', { initMs: Date.now() - t0, kind: this.impl.kind, model: this.impl.model, connections: 2 });
    await this.consumer.run();
  }

  /** Stop reading, drain the batch in flight, stop background loops, close the stage, QUIT. Memoised. */
  stop(): Promise<void> {
    this.closing ??= (async () => {
      const steps: [string, () => Promise<void>][] = [
        ['consumer', () => this.consumer.stop()],
        ['reclaimer', () => this.reclaimer.stop()],
        ['stage', async () => this.impl.close?.()],
        ['metrics', () => this.metrics.close()],
        ['connections', () => this.connections.close()],
      ];
      for (const [name, step] of steps) {
        try {
          await step();
        } catch (err) {
          this.logger.error('worker.stop_error', { step: name, err });
        }
      }
      this.logger.info('worker.stopped', { processed: this.consumer.processed, reclaimed: this.reclaimer.reclaimed });
    })();
    return this.closing;
  }
}
