import type { Redis } from 'ioredis';
import type { ResolvedConfig } from '../config/types.js';
import { backlog, ensureGroups, pipelineStatus, storeSink, type PipelineStatus } from './inspect.js';
import type { Logger } from '../observe/logger.js';
import type { Metrics } from '../observe/metrics.js';
import { Periodic } from '../core/periodic.js';
import { BoundedPass, type GivenUp } from '../core/bounded-pass.js';
import { Keys } from '../redis/keys.js';
import { trimByAge, type AgeCap } from '../stream/age-cap.js';
import { webhookGroups, type WebhookGroup } from '../stream/webhook-groups.js';

export interface GaugeSamplerOptions {
  redis: Redis;
  config: ResolvedConfig;
  metrics: Metrics;
  logger: Logger;
  /** @defaultValue config.metrics.gaugeIntervalMs */
  intervalMs?: number;
  /** A sample unanswered this long is given up, counted and logged. @defaultValue config.metrics.sampleTimeoutMs */
  timeoutMs?: number;
  /**
   * Create a stage's consumer group when a sample finds it missing (`pipeline monitor`: Redis lost its
   * data, and KEDA's lag trigger errors without the group, so a stage at zero would never wake). @defaultValue false
   */
  createGroups?: boolean;
}

/**
 * Send one status sample as gauges (names in METRIC_CATALOG: stream.length, group.*, dlq.length,
 * revokes.marks, revoked.records, store.products, webhooks.lag). `redisStore` false (another sink holds the products): no store.products, rather than a false 0.
 * A lag Redis cannot tell (null) is not sent, rather than a made-up number.
 */
export function emitGauges(metrics: Metrics, status: PipelineStatus, redisStore = true, webhooks: readonly WebhookGroup[] = []): void {
  for (const s of status.streams) {
    metrics.gauge('stream.length', s.length, { stream: s.stream });
    if (!s.stage) continue;
    const lag = backlog(s);
    if (lag !== null) metrics.gauge('group.lag', lag, { stage: s.stage });
    metrics.gauge('group.pending', s.group?.pending ?? 0, { stage: s.stage });
    metrics.gauge('group.consumers', s.group?.consumers ?? 0, { stage: s.stage });
  }
  metrics.gauge('dlq.length', status.dlq);
  metrics.gauge('revokes.marks', status.revokeMarks);
  metrics.gauge('revoked.records', status.revoked);
  if (redisStore) metrics.gauge('store.products', status.stored);
  for (const h of webhooks) if (h.lag !== null) metrics.gauge('webhooks.lag', h.lag, { webhook: h.name });
}

/**
 * Whether a pipeline needs its one sampler process (`pipeline up`'s supervisor, `pipeline
 * monitor`): for the gauges when metrics are on, and for the age caps whenever one is set (they
 * had run only beside the gauges, so without StatsD the review stream and the DLQ grew past them).
 */
export function needsSampler(config: ResolvedConfig): boolean {
  return config.metrics.enabled || config.streams.terminalMaxAgeMs > 0 || config.streams.dlqMaxAgeMs > 0;
}

/**
 * Samples the pipeline's backlog from Redis every `intervalMs` (one auto-pipelined round of XINFO
 * per stream, `{p}:done` too when the config has webhooks) and sends it as gauges. Run ONE per
 * pipeline: `pipeline up` runs it, and deployments without `pipeline up` run `pipeline monitor`. Workers never sample: N replicas would send N
 * copies of the same numbers, and a stage scaled to zero would report nothing at all.
 * A failed sample is logged and counted (`gauges.errors`); the next interval tries again.
 */
export class GaugeSampler {
  private loop?: Periodic;
  samples = 0;
  /** The last status sampled (for callers that want it too). */
  last?: PipelineStatus;

  constructor(private readonly opts: GaugeSamplerOptions) {}

  get intervalMs(): number {
    return this.opts.intervalMs ?? this.opts.config.metrics.gaugeIntervalMs;
  }

  /** Sample now, then every interval. A second call is refused. */
  start(): void {
    if (this.loop) throw new Error('gauge sampler already started');
    this.loop = new Periodic(
      () => this.sampleOnce(),
      this.intervalMs,
      (err) => this.opts.logger.error('gauges.sample_error', { err }),
    );
    this.loop.start(true);
  }

  get timeoutMs(): number {
    return this.opts.timeoutMs ?? this.opts.config.metrics.sampleTimeoutMs;
  }

  /**
   * One sample, given up after `timeoutMs` (Redis down: its commands wait in ioredis' queue for the
   * reconnect, and the sampler had stalled silently); never throws (errors are logged and counted).
   * While a given-up sample still waits, no other is queued behind it: each interval counts an error
   * (lib/core/bounded-pass.ts).
   */
  async sampleOnce(): Promise<void> {
    const { metrics, logger } = this.opts;
    try {
      await this.bounded.run((given) => this.sample(given), this.timeoutMs);
    } catch (err) {
      metrics.increment('gauges.errors');
      logger.warn('gauges.sample_error', { err, timeoutMs: this.timeoutMs });
    }
  }

  private readonly bounded = new BoundedPass();

  private async sample(given: GivenUp): Promise<void> {
    const { redis, config, metrics, logger } = this.opts;
    await this.capByAge();
    const [status, webhooks] = await Promise.all([pipelineStatus(redis, config), webhookGroups(redis, config)]);
    if (given.up) return; // its numbers are old now: a gauge sent late would read as current
    emitGauges(metrics, status, storeSink(config) === 'redis', webhooks);
    this.last = status;
    this.samples++;
    if (this.opts.createGroups && (status.shards ?? [status]).some((sh) => sh.streams.some((st) => st.stage && !st.group))) {
      const created = await ensureGroups(redis, config);
      if (created.length) logger.warn('gauges.groups_created', { stages: created, why: 'consumer groups missing (Redis lost its data?): made again' });
    }
  }

  /**
   * The memory caps `streams.terminalMaxAgeMs` (terminal streams such as `review`) and
   * `streams.dlqMaxAgeMs` (the DLQ), on every shard: trimmed here, by the one sampler per pipeline.
   */
  async capByAge(): Promise<void> {
    const { redis, config, metrics, logger } = this.opts;
    const { terminalMaxAgeMs, dlqMaxAgeMs } = config.streams;
    if (!(terminalMaxAgeMs > 0) && !(dlqMaxAgeMs > 0)) return;
    const caps: AgeCap[] = [];
    for (const keys of Keys.shards(config.pipeline, config.shards)) {
      for (const t of config.streams.terminal) caps.push({ stream: keys.stream(t), name: t, maxAgeMs: terminalMaxAgeMs });
      caps.push({ stream: keys.dlq, name: 'dlq', maxAgeMs: dlqMaxAgeMs });
    }
    await trimByAge(redis, caps, { logger, metrics });
  }

  /** No more samples; wait for one in flight at most one interval. */
  async stop(): Promise<void> {
    await this.loop?.stop(this.intervalMs);
  }
}
