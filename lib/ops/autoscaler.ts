import type { Redis } from 'ioredis';
import { STAGE_DEFAULTS } from '../config/defaults.js';
import type { ResolvedConfig, ResolvedProcess, ResolvedStage } from '../config/types.js';
import { processOptions } from '../config/processes.js';
import { backlog, pipelineStatus, type StreamStatus } from './inspect.js';
import type { Logger } from '../observe/logger.js';
import type { Metrics } from '../observe/metrics.js';
import { Periodic } from '../core/periodic.js';
import { BoundedPass, type GivenUp } from '../core/bounded-pass.js';
import { pausedStages } from './pause.js';
import { lagBuckets, usedAt, usedUp, type BucketSample, type UsedAt } from './rate-bound.js';

/** What the autoscaler drives: the Supervisor (live workers per process, named as in `units`, and scale to n). */
export interface ScaleTarget {
  count(stage: string): number;
  scale(stage: string, n: number): void;
  /** A worker of the process crashed lately (a crash loop): no worker is added to it then. @defaultValue never */
  crashedRecently?(stage: string): boolean;
}

/** One stage's autoscaling policy: its StageOptions. */
export type ScalePolicy = Pick<ResolvedStage, 'minWorkers' | 'maxWorkers' | 'scaleUpLag' | 'scaleUpAfterMs' | 'scaleDownIdleMs'>;

/** When the current streak began (ms); a streak resets when the condition breaks or after each step. */
export interface ScaleState {
  highSince?: number;
  idleSince?: number;
  /** The rate-limited buckets' tokens used when the scale-up window began (lib/ops/rate-bound.ts). */
  usedSince?: UsedAt;
  /** The last scale-up window ended rate-bound (and the lag is still high). */
  rateBound?: boolean;
}

export interface ScaleSample {
  /** Undelivered entries (group lag; stream length before the group exists); null = unknown. */
  lag: number | null;
  pending: number;
  workers: number;
  /**
   * The token buckets of the stages whose lag is high, when every such stage has a `rateLimit`
   * (lib/ops/rate-bound.ts: lagBuckets); undefined: no limit holds the unit back.
   */
  buckets?: BucketSample[];
}

/** `rate_bound`: the lag is high but the limit is used up by the workers there are: no worker added. */
export type ScaleReason = 'below_min' | 'above_max' | 'wake' | 'lag_high' | 'rate_bound' | 'idle' | 'hold';

export interface ScaleDecision {
  to: number;
  reason: ScaleReason;
}

/**
 * The policy, pure (so it is tested without processes): one step at a time, never outside
 * [min, max].
 * - below min / above max: straight to the bound;
 * - no workers and anything waiting or pending: one worker at once (scale from zero);
 * - lag >= scaleUpLag for scaleUpAfterMs: +1, and the streak starts again (so +1 per window);
 *   unless the lagging stages' rate limits were used up over that window (`buckets`): then no
 *   worker ('rate_bound', `state.rateBound`), and the next window is judged on its own;
 * - lag 0 for scaleDownIdleMs: -1 (the last worker only goes when nothing is pending either);
 * - lag unknown, or in between: hold, and both streaks reset.
 * (The Autoscaler adds that a unit whose every stage is paused, `pipeline pause`, is never scaled up.)
 */
export function decide(p: ScalePolicy, state: ScaleState, s: ScaleSample, now: number): ScaleDecision {
  const hold = { to: s.workers, reason: 'hold' as const };
  if (s.workers < p.minWorkers) return { to: p.minWorkers, reason: 'below_min' };
  if (s.workers > p.maxWorkers) return { to: p.maxWorkers, reason: 'above_max' };
  if (s.lag === null) {
    endStreak(state);
    state.idleSince = undefined;
    return hold;
  }
  if (s.workers === 0 && (s.lag > 0 || s.pending > 0) && p.maxWorkers > 0) {
    endStreak(state);
    state.idleSince = undefined;
    return { to: 1, reason: 'wake' };
  }
  if (s.lag >= p.scaleUpLag) {
    state.idleSince = undefined;
    if (state.highSince === undefined) startWindow(state, s, now);
    const elapsed = now - state.highSince!;
    if (elapsed < p.scaleUpAfterMs) return hold;
    state.rateBound = usedUp(state.usedSince, s.buckets, elapsed);
    if (state.rateBound) {
      startWindow(state, s, now);
      return { to: s.workers, reason: 'rate_bound' };
    }
    if (s.workers < p.maxWorkers) {
      startWindow(state, s, now);
      return { to: s.workers + 1, reason: 'lag_high' };
    }
    return hold;
  }
  endStreak(state);
  if (s.lag > 0) {
    state.idleSince = undefined;
    return hold;
  }
  state.idleSince ??= now;
  const lastOne = s.workers === 1;
  if (now - state.idleSince >= p.scaleDownIdleMs && s.workers > p.minWorkers && !(lastOne && s.pending > 0)) {
    state.idleSince = now;
    return { to: s.workers - 1, reason: 'idle' };
  }
  return hold;
}

function startWindow(state: ScaleState, s: ScaleSample, now: number): void {
  state.highSince = now;
  state.usedSince = usedAt(s.buckets);
}

function endStreak(state: ScaleState): void {
  state.highSince = state.usedSince = undefined;
  state.rateBound = false;
}

export interface AutoscalerOptions {
  redis: Redis;
  config: ResolvedConfig;
  /** Stages to manage; those with maxWorkers == minWorkers are left alone. */
  stages: readonly string[];
  /**
   * The worker processes the target scales, each with the stages it runs (config `process`): a
   * process is scaled as one, on its stages' largest lag, with `processOptions` as its policy.
   * @defaultValue one per stage, named after it
   */
  units?: readonly ResolvedProcess[];
  target: ScaleTarget;
  logger: Logger;
  metrics: Metrics;
  /** Sampling interval. @defaultValue the smallest `autoscaleIntervalMs` of the managed stages (none managed: the option's default) */
  intervalMs?: number;
  /** @defaultValue Date.now */
  now?: () => number;
  /** When Redis reports no lag, count at most this many undelivered entries instead (StatusOptions.lagEstimateCap). @defaultValue 1000 */
  lagEstimateCap?: number;
  /**
   * A pass whose lag sample Redis has not answered in this long is skipped: no decision on it (nor
   * on what comes back late), the scale-up and idle windows start over, counted in
   * `autoscale.errors` and logged as `autoscale.error`. With Redis down its commands had waited in
   * ioredis' offline queue, the autoscaler silent, and decided on a window it had not watched.
   * @defaultValue the interval (`intervalMs`)
   */
  timeoutMs?: number;
}

/**
 * Scales each stage's worker count on its consumer group's backlog: samples XINFO every interval
 * and applies `decide`. A worker is added by the target's scale (a new process), removed
 * gracefully (SIGTERM: it stops reading, finishes and acks its batch). Every change is logged
 * (`autoscale.decision`, JSON, naming the process) and counted (`autoscale.decisions`, tags stage and direction:
 * once for each stage of the process moved). A process its rate limits hold back gets no worker
 * (lib/ops/rate-bound.ts; `autoscale.rate_bound` logged once as it starts, `autoscale.rate_unbound`
 * as it ends, the gauge `autoscale.rate_bound` every pass).
 * A failed pass, or one Redis does not answer within `timeoutMs` (Redis down), is skipped: logged
 * (`autoscale.error`) and counted (`autoscale.errors`), no decision taken, the windows started
 * over; the next interval tries again.
 */
/** A process the autoscaler moves: its name (the target's), its stages and its policy. */
interface Managed extends ScalePolicy {
  name: string;
  stages: string[];
  autoscaleIntervalMs: number;
}

export class Autoscaler {
  private readonly states = new Map<string, ScaleState>();
  /** Units whose lag is unknown (said once by `autoscale.lag_unknown`, until it is known again). */
  private readonly unknownLag = new Set<string>();
  private readonly managed: Managed[];
  private loop?: Periodic;
  private readonly bounded = new BoundedPass();
  private stopped = false;
  decisions = 0;

  constructor(private readonly opts: AutoscalerOptions) {
    const units = (opts.units ?? opts.config.stages.map((s) => ({ name: s.name, stages: [s.name] })))
      .map((u) => ({ name: u.name, stages: u.stages.filter((n) => opts.stages.includes(n)) }))
      .filter((u) => u.stages.length > 0);
    this.managed = units.map((u) => ({ ...u, ...processOptions(opts.config, u) })).filter((u) => u.maxWorkers > u.minWorkers);
    for (const s of this.managed) this.states.set(s.name, {});
  }

  /** Processes (stages, unless several share one) whose worker count this autoscaler moves. */
  get stages(): string[] {
    return this.managed.map((s) => s.name);
  }

  get intervalMs(): number {
    if (this.opts.intervalMs !== undefined) return this.opts.intervalMs;
    return this.managed.length ? Math.min(...this.managed.map((s) => s.autoscaleIntervalMs)) : STAGE_DEFAULTS.autoscaleIntervalMs;
  }

  get timeoutMs(): number {
    return this.opts.timeoutMs ?? this.intervalMs;
  }

  start(): void {
    if (this.loop) throw new Error('autoscaler already started');
    this.loop = new Periodic(
      () => this.runOnce(),
      this.intervalMs,
      (err) => this.opts.logger.error('autoscale.error', { err }),
    );
    if (this.managed.length === 0) return;
    this.opts.logger.info('autoscale.started', { stages: this.stages, intervalMs: this.intervalMs });
    this.loop.start();
  }

  /** One sample and decision round, bounded by `timeoutMs`; never throws. */
  async runOnce(): Promise<void> {
    const { logger, metrics } = this.opts;
    try {
      await this.bounded.run((given) => this.pass(given), this.timeoutMs);
    } catch (err) {
      // The lag was not seen meanwhile: a window must not span a pass that was skipped.
      for (const state of this.states.values()) state.highSince = state.idleSince = undefined;
      metrics.increment('autoscale.errors');
      logger.warn('autoscale.error', { err, timeoutMs: this.timeoutMs, action: 'pass skipped: no scaling decision until Redis answers' });
    }
  }

  private async pass(given: GivenUp): Promise<void> {
    const { redis, config, target, logger, metrics } = this.opts;
    const [status, paused] = await Promise.all([pipelineStatus(redis, config, { lagEstimateCap: this.opts.lagEstimateCap }), pausedStages(redis, config)]);
    if (this.stopped || given.up) return;
    // Read only for units whose high lag is all rate-limited stages' (no I/O otherwise).
    const buckets = await Promise.all(this.managed.map((u) => lagBuckets(redis, config, u.stages, status, u.scaleUpLag)));
    if (this.stopped || given.up) return; // given up: its numbers are old, never decided on
    const byStage = new Map<string, StreamStatus>(status.streams.flatMap((s) => (s.stage ? [[s.stage, s] as const] : [])));
    const now = (this.opts.now ?? Date.now)();
    for (const [i, stage] of this.managed.entries()) {
      // A process's lag is its most behind stage's (unknown only when no stage's is known).
      const lags = stage.stages.map((n) => byStage.get(n)).map((x) => (x ? backlog(x) : null));
      const known = lags.filter((l): l is number => l !== null);
      const pending = stage.stages.reduce((n, x) => n + (byStage.get(x)?.group?.pending ?? 0), 0);
      const workers = target.count(stage.name);
      const sample: ScaleSample = { lag: known.length ? Math.max(...known) : null, pending, workers, buckets: buckets[i] };
      if (sample.lag !== null) this.unknownLag.delete(stage.name);
      else if (!this.unknownLag.has(stage.name)) {
        this.unknownLag.add(stage.name);
        logger.warn('autoscale.lag_unknown', { stage: stage.name, stages: stage.stages, workers, pending, action: 'hold until the lag is known' });
      }
      const state = this.states.get(stage.name)!;
      const wasBound = state.rateBound === true;
      const d = decide(stage, state, sample, now);
      if ((state.rateBound === true) !== wasBound) this.tellRateBound(stage.name, sample);
      // Every pass (statsd_exporter drops a gauge unsent for its ttl); per stage, as `autoscale.decisions`: a process's name is no stage.
      for (const name of stage.stages) metrics.gauge('autoscale.rate_bound', state.rateBound ? 1 : 0, { stage: name });
      // A crashing process is not helped by more copies of it (its lag grows because it is down).
      if (d.to > workers && target.crashedRecently?.(stage.name)) continue;
      // Nor a paused one (`pipeline pause`: its lag grows on purpose, more workers would hold still too); the window starts again on resume.
      if (d.to > workers && stage.stages.every((n) => paused.has(n))) {
        this.states.get(stage.name)!.highSince = undefined;
        continue;
      }
      if (d.to !== workers) {
        this.decisions++;
        target.scale(stage.name, d.to);
        const direction = d.to > workers ? 'up' : 'down';
        // Per stage, as the `workers` gauge: a process's name (`enrich`) is no stage, and every stage of it moved.
        for (const name of stage.stages) metrics.increment('autoscale.decisions', 1, { stage: name, direction });
        logger.info('autoscale.decision', {
          stage: stage.name,
          from: workers,
          to: d.to,
          direction,
          reason: d.reason,
          lag: sample.lag,
          pending: sample.pending,
        });
      }
    }
  }

  /** Said once when a unit becomes rate-bound (no worker added while it is) and once when it is no longer. */
  private tellRateBound(unit: string, s: ScaleSample): void {
    const { logger } = this.opts;
    const bound = this.states.get(unit)!.rateBound === true;
    if (!bound) return logger.info('autoscale.rate_unbound', { stage: unit, workers: s.workers, lag: s.lag, action: 'scales on lag again' });
    const limit = [...new Map((s.buckets ?? []).map((b) => [b.stage, { stage: b.stage, records: b.records, perMs: b.perMs }])).values()];
    logger.info('autoscale.rate_bound', {
      stage: unit,
      workers: s.workers,
      lag: s.lag,
      limit,
      action: 'no worker added: the rate limit is used up by the workers there are',
    });
  }

  /** No more ticks; wait for one in flight at most one interval. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop?.stop(this.intervalMs);
  }
}
