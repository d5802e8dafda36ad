import type { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { ResolvedConfig } from '../config/types.js';
import { Periodic } from '../core/periodic.js';
import { timerOrEvent } from '../core/sleep.js';
import { errorMessage } from '../core/errors.js';
import { assertRedisReady } from '../api/errors.js';
import type { Logger } from '../observe/logger.js';
import { backlog, DlqTally, pipelineStatus, revokeFigures, type PipelineStatus, type RevokeFigures } from '../ops/inspect.js';
import { counterDelta, perSecond, readCount, shardCounters } from '../ops/rates.js';
import { Keys } from '../redis/keys.js';
import { stageLatencies } from './hops.js';
import { RecentHops, type Hops } from './recent-hops.js';
import { REVIEW_GROUP } from './review.js';
import { reviewCounts } from './review-trimmed.js';
import { configShards } from '../redis/shard.js';
import { readDataLoss } from '../ops/data-loss.js';
import { evictingLine, fullLine, writeRefusalLine, writeRefusalWithin } from '../ops/write-refusal.js';
import { renewLease } from './sample-lease.js';
import { nothingYet } from '../ops/pipeline-presence.js';
import type { DataLossRecord } from '../stream/data-loss.js';

/** One stage's numbers at one sample. Rates are per second over the interval since the previous sample. */
export interface StageSample {
  stage: string;
  stream: string;
  length: number;
  lag: number | null;
  pending: number;
  consumers: number;
  /** Entries the group read per second (XINFO GROUPS entries-read, differenced); null on the first sample and when the counter went backwards (lib/ops/rates.ts). */
  inRate: number | null;
  /** Entries the group finished (read and acked) per second: Δ entries-read − Δ pending. */
  outRate: number | null;
  /** Batch time (read to hand-off) over recent hops, ms. */
  p50Ms: number | null;
  p99Ms: number | null;
  batchMean: number | null;
  /** Pending entries delivered more than once (a failed attempt each), from the oldest `redeliveryScan`. */
  redelivered: number;
  /** Dead letters this stage sent, all time (DLQ entries still there); null until the console's first count of the DLQ (more than 10,000 entries are counted over several samples) is whole. */
  deadLetters: number | null;
}

/** `revokeMarks` and `revoked`: the revoke marks outstanding and the records that ended revoked, as PipelineStatus has them. */
export interface ConsoleSample extends RevokeFigures {
  at: number;
  stages: StageSample[];
  /**
   * Terminal streams (review): their lengths, and for review the items that can be reviewed
   * (`open`) and those pending in the console's group whose entries were trimmed (`trimmed`, to
   * acknowledge): lib/console/review-trimmed.ts.
   */
  terminal: { stream: string; length: number; open?: number; trimmed?: number }[];
  dlq: number;
  /** Products in the Redis store; null when the store's sink is another (`sink`), which the sampler does not count. */
  stored: number | null;
  /** The store stage's sink (`redis`, `postgres`, ...). */
  sink: string;
  /**
   * Per stage, Redis' own counts: entries the group ever read (entries-read; null when Redis cannot
   * tell), pending now, and entries ever added to its stream (entries-added: with it, a read count
   * that went down is told from a group made again).
   */
  totals: { stage: string; read: number | null; pending: number; added?: number }[];
  /**
   * Sharded pipelines only: each shard's DLQ length and per stage its length, lag and pending
   * (`stages` and `dlq` above are their sums; `consumers` there is the most any shard's group has).
   */
  shards?: ({ shard: number; dlq: number; stages: { stage: string; length: number; lag: number | null; pending: number }[] } & RevokeFigures)[];
  /** Nothing of the pipeline in Redis yet (lib/ops/pipeline-presence.ts): the page says so, with the pipelines Redis holds. */
  nothingYet: boolean;
  /** The data losses the workers recorded and no one acknowledged yet (lib/ops/data-loss.ts): the console's red banner; [] when none. */
  dataLost: DataLossRecord[];
  /** Redis's reply while it refuses writes: MISCONF (it cannot persist, lib/ops/write-refusal.ts) or OOM (full: the lease refused), else null: the amber banner. */
  redisRefusesWrites: string | null;
  /** The banner's sentence: that refusal and what to do (`writeRefusalLine`), or the evicting policy the API refuses submissions under (`evictingLine`); else null. */
  writeRefusalLine: string | null;
}

export interface ConsoleSamplerOptions {
  redis: Redis;
  config: ResolvedConfig;
  logger: Logger;
  /** The store stage's sink: `stored` is counted only for `redis` (the products set), else null. @defaultValue 'redis' */
  sink?: string;
  /** How often to sample. @defaultValue 5000 (console.sampleIntervalMs) */
  intervalMs?: number;
  /** History kept in Redis: the series stream is capped at historyMs / intervalMs entries (XADD MAXLEN ~). @defaultValue 3600000 (1 hour) */
  historyMs?: number;
  /** Newest entries kept per stream for the latency figures (each sample reads only the new ones). @defaultValue 100 */
  latencySampleSize?: number;
  /** Pending entries per stage looked at for redeliveries (XPENDING ... COUNT). @defaultValue 100 */
  redeliveryScan?: number;
  /** Most trimmed review items counted per sample (XPENDING rows), and most review entries counted when Redis' lag is not believed. @defaultValue 10000 (console.maxBulk) */
  reviewCountCap?: number;
  /** Longest wait for the PING asking whether Redis refuses writes (MISCONF); unanswered, the sample goes on without it (null). @defaultValue 1000 (console.writeRefusalTimeoutMs) */
  writeRefusalTimeoutMs?: number;
  /** The `allkeys-*` policy the API server refuses submissions under (lib/api/eviction-guard.ts), for the banner. @defaultValue none */
  evicting?: () => string | undefined;
}

/** A sample that failed, told to the SSE clients (event `stale`). */
export interface SampleFailure {
  at: number;
  error: string;
  /** When the numbers the page shows were sampled. */
  lastSampleAt: number | null;
}

/** Resolves once `redis` is ready, or after `ms` (whichever comes first). */
function readyWithin(redis: Redis, ms: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return timerOrEvent(ms, (done) => {
    redis.once('ready', done);
    return () => redis.off('ready', done);
  });
}

/** The console's keys: the stats series and the sampler's lease. */
export const consoleKeys = (keys: Keys) => ({ series: keys.extra('console:stats'), lease: keys.extra('console:sampler') });

/**
 * Samples the pipeline every `intervalMs` (XINFO per stream, XPENDING, the newest entries for
 * hop timings) into a `ConsoleSample`, hands it to listeners (the SSE clients) and, while it holds
 * the lease `{p}:console:sampler` (one writer among all console processes), appends it to the
 * capped stream `{p}:console:stats`. A console restart loses nothing Redis still has: the charts
 * read their history from that stream. A failed sample is logged; the next interval tries again.
 */
export class ConsoleSampler {
  private loop?: Periodic;
  private prev?: { at: number; read: Map<string, { read: number | null; pending: number; perShard: (number | null)[] }> };
  /** One tally per shard's DLQ (one unsharded): a stage's dead letters are their sum. */
  private readonly tallies: DlqTally[];
  private readonly hops: RecentHops;
  private readonly listeners = new Set<(s: ConsoleSample) => void>();
  private readonly failureListeners = new Set<(f: SampleFailure) => void>();
  private readonly id = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  private readonly keys: Keys;
  last?: ConsoleSample;
  /** Whether the last sample was written to the series (this process held the lease). */
  writer = false;

  constructor(private readonly o: ConsoleSamplerOptions) {
    this.keys = new Keys(o.config.pipeline);
    const shards = configShards(o.config);
    this.tallies = shards.all.map((k) => new DlqTally(k.dlq));
    const streams = [...new Set([...o.config.stages.map((s) => s.input), ...o.config.streams.terminal, 'done'])];
    this.hops = new RecentHops(o.redis, shards, { streams, perStream: o.latencySampleSize });
  }

  /** Hops handed off this long ago or less make the latency figures. */
  private get latencyWindowMs(): number {
    return Math.max(60_000, this.intervalMs * 12);
  }

  get intervalMs(): number {
    return this.o.intervalMs ?? 5000;
  }
  get historyMs(): number {
    return this.o.historyMs ?? 3_600_000;
  }
  /** Entries the series stream keeps. */
  get maxSamples(): number {
    return Math.max(10, Math.ceil(this.historyMs / this.intervalMs));
  }

  start(): void {
    if (this.loop) throw new Error('console sampler already started');
    // The first sample waits for the connection's first connect, up to one interval: taken at once,
    // every start of `pipeline serve` logged "Redis is unreachable (connection connecting)".
    let first = this.o.redis.status !== 'ready';
    this.loop = new Periodic(
      async () => {
        if (first) await readyWithin(this.o.redis, this.intervalMs);
        first = false;
        await this.sampleOnce();
      },
      this.intervalMs,
      (err) => this.o.logger.error('console.sample_error', { err }),
    );
    this.loop.start(true);
  }

  async stop(): Promise<void> {
    await this.loop?.stop(this.intervalMs);
  }

  /** `onFailure`: a sample failed (Redis unreachable); the page then says its numbers are stale instead of "live". */
  subscribe(fn: (s: ConsoleSample) => void, onFailure?: (f: SampleFailure) => void): () => void {
    this.listeners.add(fn);
    if (onFailure) this.failureListeners.add(onFailure);
    return () => {
      this.listeners.delete(fn);
      if (onFailure) this.failureListeners.delete(onFailure);
    };
  }

  /** One sample: read, publish, and write to the series while holding the lease. Errors are logged, not thrown. */
  async sampleOnce(): Promise<ConsoleSample | undefined> {
    const { redis, config, logger } = this.o;
    try {
      // Not queued behind a connection that is down: that sample would hang until Redis is back,
      // and the page would go on showing "live" on frozen numbers.
      assertRedisReady(redis);
      const since = Date.now() - this.latencyWindowMs;
      const [status, envelopes, review, refusal] = await Promise.all([
        pipelineStatus(redis, config, { terminalGroup: REVIEW_GROUP }),
        this.hops.update(since),
        this.reviewCounts(),
        writeRefusalWithin(redis, this.o.writeRefusalTimeoutMs ?? 1000),
        ...this.tallies.map((t) => t.update(redis)),
      ]);
      // Read after the sample's time (`at`): a page that acknowledged at T trusts only samples taken at T or later.
      const [redelivered, dataLost] = await Promise.all([this.redeliveries(status), readDataLoss(redis, config)]);
      // Redis would refuse the lease and the series write (MISCONF): not tried. Full (OOM): the lease is refused, and says so.
      const held = refusal ? { writer: false } : await renewLease(redis, consoleKeys(this.keys).lease, this.id, this.intervalMs * 3);
      this.writer = held.writer;
      const reply = refusal ?? held.full;
      const evicting = this.o.evicting?.();
      const line = refusal ? writeRefusalLine(refusal) : held.full ? fullLine(held.full) : evicting ? evictingLine(evicting) : undefined;
      const sample = { ...this.build(status, envelopes, redelivered, review), dataLost, redisRefusesWrites: reply ?? null, writeRefusalLine: line ?? null };
      this.last = sample;
      for (const fn of this.listeners) fn(sample);
      // The sample is good; the chart has a gap while writes are refused.
      if (this.writer) await redis.xadd(consoleKeys(this.keys).series, 'MAXLEN', '~', this.maxSamples, '*', 's', JSON.stringify(sample));
      return sample;
    } catch (err) {
      logger.warn('console.sample_error', { err: errorMessage(err) });
      const failure = { at: Date.now(), error: errorMessage(err), lastSampleAt: this.last?.at ?? null };
      for (const fn of this.failureListeners) fn(failure);
      return undefined;
    }
  }

  /** The series in Redis since `since` (ms), oldest first: what the charts draw. */
  async history(since = Date.now() - this.historyMs): Promise<ConsoleSample[]> {
    const rows = (await this.o.redis.xrange(consoleKeys(this.keys).series, String(since), '+')) as [string, string[]][];
    const out: ConsoleSample[] = [];
    for (const [, fields] of rows) {
      const i = fields.indexOf('s');
      if (i < 0) continue;
      try {
        out.push(JSON.parse(fields[i + 1]!) as ConsoleSample);
      } catch {
        // A foreign or truncated entry: skip it, the chart has a gap.
      }
    }
    return out;
  }

  /** The review items that can be reviewed and those whose entries were trimmed, summed over the shards (undefined: no review stream). */
  private async reviewCounts(): Promise<{ open: number; trimmed: number } | undefined> {
    if (!this.o.config.streams.terminal.includes('review')) return undefined;
    const counts = await Promise.all(configShards(this.o.config).all.map((k) => reviewCounts(this.o.redis, k, 'review', { cap: this.o.reviewCountCap })));
    return { open: counts.reduce((n, c) => n + c.open, 0), trimmed: counts.reduce((n, c) => n + c.trimmed, 0) };
  }

  /** Per stage, its pending entries delivered more than once among the oldest `redeliveryScan` of each shard's group, summed. */
  private async redeliveries(status: PipelineStatus): Promise<Map<string, number>> {
    const scan = this.o.redeliveryScan ?? 100;
    const out = new Map<string, number>();
    await Promise.all(
      (status.shards ?? [status])
        .flatMap((sh) => sh.streams)
        .filter((s) => s.stage && s.group && s.group.pending > 0)
        .map(async (s) => {
          const rows = (await this.o.redis.xpending(s.key, s.stage!, '-', '+', scan)) as [string, string, number, number][];
          out.set(s.stage!, (out.get(s.stage!) ?? 0) + rows.filter((r) => Number(r[3]) > 1).length);
        }),
    );
    return out;
  }

  /** Dead letters a stage sent, over every shard's DLQ; null while a first count is under way (a part of the DLQ read as if it were all of it). */
  private deadLetters(stage: string): number | null {
    if (!this.tallies.every((t) => t.complete)) return null;
    return this.tallies.reduce((n, t) => n + (t.byStage.get(stage) ?? 0), 0);
  }

  private build(
    status: PipelineStatus,
    envelopes: Hops[],
    redelivered: Map<string, number>,
    review?: { open: number; trimmed: number },
  ): Omit<ConsoleSample, 'dataLost' | 'redisRefusesWrites' | 'writeRefusalLine'> {
    const at = status.at;
    const lat = stageLatencies(envelopes, at - this.latencyWindowMs);
    const read = new Map<string, { read: number | null; pending: number; added: number; perShard: (number | null)[] }>();
    const stages: StageSample[] = [];
    const dt = this.prev ? (at - this.prev.at) / 1000 : 0;
    for (const [i, s] of status.streams.entries()) {
      if (!s.stage) continue;
      const g = s.group;
      const cur = { read: g?.entriesRead ?? (g ? null : 0), pending: g?.pending ?? 0, added: s.added, perShard: shardCounters(status, i, readCount) };
      read.set(s.stage, cur);
      const before = this.prev?.read.get(s.stage);
      // A read counter that went backwards (a failback, a group made again) gives no rate for this sample, not 0: lib/ops/rates.ts.
      const dIn = counterDelta(cur.perShard, before?.perShard);
      const inRate = nullable(perSecond(dIn, dt), round);
      const outRate = nullable(perSecond(dIn === null ? null : Math.max(0, dIn - (cur.pending - before!.pending)), dt), round);
      const l = lat.get(s.stage);
      stages.push({
        stage: s.stage,
        stream: s.stream,
        length: s.length,
        lag: backlog(s),
        pending: cur.pending,
        consumers: g?.consumers ?? 0,
        inRate,
        outRate,
        p50Ms: l?.p50Ms ?? null,
        p99Ms: l?.p99Ms ?? null,
        batchMean: l?.batchMean ?? null,
        redelivered: redelivered.get(s.stage) ?? 0,
        deadLetters: this.deadLetters(s.stage),
      });
    }
    this.prev = { at, read };
    const totals = [...read].map(([stage, r]) => ({ stage, read: r.read, pending: r.pending, added: r.added }));
    return {
      at,
      stages,
      totals,
      nothingYet: nothingYet(status),
      terminal: status.streams.filter((s) => !s.stage).map((s) => ({ stream: s.stream, length: s.length, ...(s.stream === 'review' && review ? review : {}) })),
      dlq: status.dlq,
      ...revokeFigures(status),
      // The products set counts the Redis sink's products only: 0 for a Postgres store had read as "nothing stored".
      stored: (this.o.sink ?? 'redis') === 'redis' ? status.stored : null,
      sink: this.o.sink ?? 'redis',
      ...(status.shards
        ? {
            shards: status.shards.map((sh) => ({
              shard: sh.shard,
              dlq: sh.dlq,
              ...revokeFigures(sh),
              stages: sh.streams
                .filter((st) => st.stage)
                .map((st) => ({ stage: st.stage!, length: st.length, lag: backlog(st), pending: st.group?.pending ?? 0 })),
            })),
          }
        : {}),
    };
  }
}

const round = (n: number) => Math.round(n * 10) / 10;
const nullable = (n: number | null, f: (n: number) => number) => (n === null ? null : f(n));
