import type { Redis } from 'ioredis';
import type { ResolvedConfig, ResolvedStage } from '../config/types.js';
import { sleep } from '../core/backoff.js';
import { ConfigError, PipelineError } from '../core/errors.js';
import type { Keys } from '../redis/keys.js';
import { trustedLag } from '../stream/group-lag.js';
import { asCluster, masterForKey } from '../redis/url.js';
import { DrainRate, retryAfterSeconds } from './drain.js';
import { isNoSuchKey } from '../core/redis-replies.js';

/**
 * Backpressure: one rule for every way in (the producer CLI, the HTTP API, DLQ replay, reprocess,
 * the console's actions). New work for a stream may go in while
 * - the lag of the group that reads it (entries not yet delivered to it: XINFO GROUPS `lag`) is at
 *   or below the stage's `maxLag` (config `limits.maxLag`, per stage `stages[i].maxLag`), and so is
 *   the lag of **each stage further on that a new record crosses** (reached through the routes:
 *   a backlog in the model stages had never refused anything while the input stage kept up), and
 * - Redis is not full (`used_memory` below `maxmemory`, when a limit is set).
 * The producer waits while it is not (`waitUntilClear`), the API answers 429 with Retry-After.
 *
 * Cost: one XINFO GROUPS, one XLEN and one INFO memory per reading of the entry stage, reused for
 * `cacheMs`; one XINFO GROUPS and one XLEN per stage further on, reused for `downstreamCacheMs`
 * (1 s), so a busy server asks Redis a few times a second, not once per request.
 */
export interface Pressure {
  /** True when new work may go in. */
  clear: boolean;
  /** Why not: a stage's lag is above its maxLag, or Redis is at its memory limit. */
  reason?: 'lag' | 'oom';
  /** The stage `lag` and `maxLag` are of: the one furthest over its maxLag (lag / maxLag), else the entry stage. */
  stage?: string;
  /** That group's lag (the stream's length when the group does not exist yet, or Redis cannot tell). */
  lag: number;
  maxLag: number;
  /** Entries per second that stage's lag fell lately (net of what was added; <= 0: it did not fall; undefined: not known yet). */
  drainPerSec?: number;
  /** Every stage read: the entry stage first, then those further on. */
  stages?: StageLag[];
  usedMemory?: number;
  maxMemory?: number;
  /** Sharded pipelines (config `shards` > 1): the shard this reading is of; `lag` is that shard's alone (maxLag applies per shard). */
  shard?: ShardName;
}

/** A shard as messages name it: `shard 1 of 3 ({products:1})`. */
export interface ShardName {
  index: number;
  /** The pipeline's shard count (config `shards`), when known. */
  of?: number;
  /** Its hash tag (`{products:1}`). */
  tag: string;
}

export interface StageLag {
  stage: string;
  lag: number;
  maxLag: number;
}

/** The producer gave up waiting for the pipeline to catch up (`maxWaitMs`). */
export class BackpressureTimeoutError extends PipelineError {}

/** A stage further on: its group (the stage's name) reading `stream`. */
export interface StageTarget {
  stage: string;
  stream: string;
  maxLag: number;
}

export interface BackpressureOptions {
  /** The stream new work goes to (full key) and the group that reads it (the stage's name). */
  stream: string;
  group: string;
  maxLag: number;
  /** A reading is reused this long. @defaultValue 250 */
  cacheMs?: number;
  /** The stages further on that a new record crosses; each over its own maxLag is pressure too. @defaultValue none */
  downstream?: StageTarget[];
  /** Their reading (an XINFO GROUPS and an XLEN each) is reused this long. @defaultValue 1000 */
  downstreamCacheMs?: number;
  /** The shard these streams are of (sharded pipelines), named in every reading and message. @defaultValue none (unsharded) */
  shard?: ShardName;
}

const field = (info: string, name: string): number | undefined => {
  const m = new RegExp(`^${name}:(\\d+)`, 'm').exec(info);
  return m ? Number(m[1]) : undefined;
};

/** The lag of `group` on `stream`: XINFO GROUPS `lag`; the stream's length while the group does not exist or Redis cannot tell. */
async function groupLag(redis: Redis, stream: string, group: string): Promise<number> {
  const [groups, length] = await Promise.all([
    (redis.xinfo('GROUPS', stream) as Promise<unknown[][]>).catch((err: unknown) => {
      if (isNoSuchKey(err)) return [] as unknown[][];
      throw err;
    }),
    redis.xlen(stream),
  ]);
  let lag = length; // no group yet: every entry is waiting
  for (const g of groups) {
    const m = new Map<string, unknown>();
    for (let i = 0; i + 1 < g.length; i += 2) m.set(String(g[i]), g[i + 1]);
    if (String(m.get('name')) !== group) continue;
    // Redis 7 reports nil when it cannot compute the lag (after deletions), and a lag above the
    // length after a Cluster failover (lib/stream/group-lag.ts): the length bounds it.
    lag = trustedLag(m.get('lag'), { length, pending: Number(m.get('pending') ?? 0), lastDeliveredId: String(m.get('last-delivered-id')) }) ?? length;
  }
  return lag;
}

export class Backpressure {
  private cached?: { at: number; value: Pressure };
  private inflight?: Promise<Pressure>;
  private downstream?: { at: number; value: Promise<StageLag[]> };
  /** How fast each stage's lag falls, from the readings (the Retry-After hint). */
  readonly drain = new DrainRate();

  constructor(
    private readonly redis: Redis,
    readonly opts: BackpressureOptions,
  ) {}

  /** The input stage's backpressure (the stage reading the producer's stream, `config.input`) and every stage after it. */
  static forInput(redis: Redis, config: ResolvedConfig, keys: Keys, cacheMs?: number, downstreamCacheMs?: number): Backpressure {
    return Backpressure.forStage(redis, inputStage(config), keys, cacheMs, config, downstreamCacheMs);
  }

  /**
   * Backpressure of one stage's input stream (DLQ replay into that stage, reprocessing), and with
   * `config`, of every stage a record put there crosses after it.
   */
  static forStage(redis: Redis, stage: ResolvedStage, keys: Keys, cacheMs?: number, config?: ResolvedConfig, downstreamCacheMs?: number): Backpressure {
    const after = config ? stagesAfter(config, stage) : [];
    const shard = keys.shard === undefined ? undefined : { index: keys.shard, tag: keys.tag, ...(config ? { of: config.shards } : {}) };
    return new Backpressure(redis, {
      stream: keys.stream(stage.input),
      group: stage.name,
      maxLag: stage.maxLag,
      ...(cacheMs !== undefined ? { cacheMs } : {}),
      ...(after.length ? { downstream: after.map((s) => ({ stage: s.name, stream: keys.stream(s.input), maxLag: s.maxLag })) } : {}),
      ...(downstreamCacheMs !== undefined ? { downstreamCacheMs } : {}),
      ...(shard ? { shard } : {}),
    });
  }

  /** The current reading (cached for `cacheMs`; concurrent callers share one round trip). */
  async check(): Promise<Pressure> {
    const now = Date.now();
    if (this.cached && now - this.cached.at < (this.opts.cacheMs ?? 250)) return this.cached.value;
    this.inflight ??= this.read().then(
      (value) => {
        this.cached = { at: Date.now(), value };
        this.inflight = undefined;
        return value;
      },
      (err: unknown) => {
        this.inflight = undefined;
        throw err;
      },
    );
    return this.inflight;
  }

  /** The stages further on, read at most every `downstreamCacheMs` (a failed reading is not kept). */
  private readDownstream(): Promise<StageLag[]> {
    const targets = this.opts.downstream ?? [];
    if (targets.length === 0) return Promise.resolve([]);
    const now = Date.now();
    if (this.downstream && now - this.downstream.at < (this.opts.downstreamCacheMs ?? 1_000)) return this.downstream.value;
    const value = Promise.all(targets.map(async (t) => ({ stage: t.stage, lag: await groupLag(this.redis, t.stream, t.stage), maxLag: t.maxLag })));
    const entry = { at: now, value };
    this.downstream = entry;
    value.then(
      (lags) => {
        for (const l of lags) this.drain.add(l.stage, l.lag);
      },
      () => {
        if (this.downstream === entry) this.downstream = undefined;
      },
    );
    return value;
  }

  private async read(): Promise<Pressure> {
    const { stream, group, maxLag } = this.opts;
    const cluster = asCluster(this.redis);
    const node = cluster ? (masterForKey(cluster, stream) ?? this.redis) : this.redis;
    const [lag, later, info] = await Promise.all([groupLag(this.redis, stream, group), this.readDownstream(), node.info('memory')]);
    this.drain.add(group, lag);
    const stages: StageLag[] = [{ stage: group, lag, maxLag }, ...later];
    // The stage furthest over its limit (or the entry stage when none is over).
    const over = stages.filter((s) => s.lag > s.maxLag).sort((a, b) => b.lag / b.maxLag - a.lag / a.maxLag);
    const worst = over[0] ?? stages[0]!;
    const usedMemory = field(info, 'used_memory');
    const maxMemory = field(info, 'maxmemory');
    const full = maxMemory !== undefined && maxMemory > 0 && usedMemory !== undefined && usedMemory >= maxMemory;
    const drainPerSec = this.drain.perSecond(worst.stage);
    const base = {
      stage: worst.stage,
      lag: worst.lag,
      maxLag: worst.maxLag,
      ...(drainPerSec !== undefined ? { drainPerSec } : {}),
      stages,
      ...(usedMemory !== undefined ? { usedMemory } : {}),
      ...(maxMemory ? { maxMemory } : {}),
      ...(this.opts.shard ? { shard: this.opts.shard } : {}),
    };
    if (full) return { clear: false, reason: 'oom', ...base };
    if (over.length > 0) return { clear: false, reason: 'lag', ...base };
    return { clear: true, ...base };
  }

  /**
   * Resolve once new work may go in. While it may not, `onWait` is called after each reading
   * (every `pollMs`), e.g. to print progress; after `maxWaitMs` (0 = forever) it throws
   * BackpressureTimeoutError. Read errors propagate (the caller's retry policy decides).
   */
  waitUntilClear(o: WaitOptions = {}): Promise<void> {
    return waitUntilClear(() => this.check(), o);
  }
}

export interface WaitOptions {
  /** ms between readings while waiting. @defaultValue 500 */
  pollMs?: number;
  /** Give up (BackpressureTimeoutError) after this long; 0 = wait forever. @defaultValue 0 */
  maxWaitMs?: number;
  onWait?: (p: Pressure, waitedMs: number) => void;
  onClear?: (waitedMs: number) => void;
}

/** Backpressure.waitUntilClear over any reading (one Backpressure, or every shard's: ShardedBackpressure). */
export async function waitUntilClear(check: () => Promise<Pressure>, o: WaitOptions = {}): Promise<void> {
  const started = Date.now();
  let waited = false;
  for (;;) {
    const p = await check();
    if (p.clear) {
      if (waited) o.onClear?.(Date.now() - started);
      return;
    }
    waited = true;
    const ms = Date.now() - started;
    o.onWait?.(p, ms);
    if (o.maxWaitMs && ms >= o.maxWaitMs) throw new BackpressureTimeoutError(describe(p) + `; gave up after ${ms} ms`);
    await sleep(o.pollMs ?? 500);
  }
}

/**
 * `Retry-After` (seconds) for a refusal: for a backlog, the lag above maxLag over the rate it fell
 * lately (retryAfterSeconds in lib/producer/drain.ts), within [min, max]; Redis full: `min`.
 */
export function retryAfterFor(p: Pressure, min: number, max: number): number {
  return p.reason === 'lag' ? retryAfterSeconds(p.lag - p.maxLag, p.drainPerSec, min, max) : min;
}

/** `shard 1 of 3 ({products:1})`. */
export function shardLabel(s: ShardName): string {
  return `shard ${s.index}${s.of !== undefined ? ` of ${s.of}` : ''} (${s.tag})`;
}

/**
 * One line for a person: why new work waits. Sharded, it names the shard: its lag is that shard's alone (maxLag applies per shard).
 * `cap`: the run's `--max-lag` (capMaxLag), named where it, not the config's maxLag, is the limit that holds it.
 */
export function describe(p: Pressure, cap?: number): string {
  const on = p.shard ? `${shardLabel(p.shard)}: ` : '';
  const each = p.shard ? ', which applies to each shard' : '';
  if (p.reason === 'oom')
    return `${on}Redis is full: used_memory ${p.usedMemory} >= \`maxmemory\` ${p.maxMemory} (raise it, or free memory: nothing is lost, new work waits)`;
  const capped = cap !== undefined && p.maxLag === cap;
  if (p.reason === 'lag')
    return p.stages && p.stage !== p.stages[0]?.stage
      ? `${on}stage ${p.stage} has a lag of ${p.lag}, above ${capped ? '--max-lag' : 'its maxLag'} ${p.maxLag}${each} (a new record would wait behind it)`
      : `${on}the input lag ${p.lag} is above ${capped ? '--max-lag' : 'limits.maxLag'} ${p.maxLag}${each}`;
  return `${on}clear (lag ${p.lag} <= ${p.maxLag})`;
}

/**
 * The config with every stage's maxLag lowered to `cap` (none raised), for a bulk run (`produce`,
 * `reprocess --max-lag`): it waits at `cap`, so the backlog it makes stays under the limit the HTTP
 * API answers 429 at, and a record the API takes waits behind about `cap` entries, not `maxLag`.
 */
export function capMaxLag(config: ResolvedConfig, cap: number): ResolvedConfig {
  return { ...config, stages: config.stages.map((s) => ({ ...s, maxLag: Math.min(s.maxLag, cap) })) };
}

/** The stages a record put on `from`'s stream crosses after it, through the routes (each once, `from` not included). */
export function stagesAfter(config: ResolvedConfig, from: ResolvedStage): ResolvedStage[] {
  const byInput = new Map(config.stages.map((s) => [s.input, s]));
  const seen = new Set([from.name]);
  const found: ResolvedStage[] = [];
  for (let queue = [from]; queue.length > 0;) {
    const next: ResolvedStage[] = [];
    for (const s of queue)
      for (const rule of config.routes[s.name] ?? [])
        for (const to of typeof rule.to === 'string' ? [rule.to] : rule.to) {
          const t = byInput.get(to);
          if (t && !seen.has(t.name)) {
            seen.add(t.name);
            found.push(t);
            next.push(t);
          }
        }
    queue = next;
  }
  return found;
}

/** The stage that reads the producer's stream. */
export function inputStage(config: ResolvedConfig): ResolvedStage {
  const s = config.stages.find((x) => x.input === config.input);
  if (!s) throw new ConfigError('input', `no stage reads ${JSON.stringify(config.input)}`);
  return s;
}
