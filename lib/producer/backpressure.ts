import type { Redis } from 'ioredis';
import type { ResolvedConfig, ResolvedStage } from '../config/types.js';
import { sleep } from '../core/backoff.js';
import { ConfigError, errorMessage, PipelineError } from '../core/errors.js';
import type { Keys } from '../redis/keys.js';
import { asCluster, masterForKey } from '../redis/url.js';

/**
 * Backpressure: one rule for every way in (the producer CLI, the HTTP API, DLQ replay). New work
 * for a stream may go in while
 * - the lag of the group that reads it (entries not yet delivered to it: XINFO GROUPS `lag`) is at
 *   or below the stage's `maxLag` (config `limits.maxLag`, per stage `stages[i].maxLag`), and
 * - Redis is not full (`used_memory` below `maxmemory`, when a limit is set).
 * The producer waits while it is not (`waitUntilClear`), the API answers 429 with Retry-After.
 *
 * Cost: one XINFO GROUPS and one INFO memory per reading; a reading is reused for `cacheMs`, so
 * a busy server asks Redis a few times a second, not once per request.
 */
export interface Pressure {
  /** True when new work may go in. */
  clear: boolean;
  /** Why not: the group's lag is above maxLag, or Redis is at its memory limit. */
  reason?: 'lag' | 'oom';
  /** The group's lag (the stream's length when the group does not exist yet, or Redis cannot tell). */
  lag: number;
  maxLag: number;
  usedMemory?: number;
  maxMemory?: number;
}

/** The producer gave up waiting for the pipeline to catch up (`maxWaitMs`). */
export class BackpressureTimeoutError extends PipelineError {}

export interface BackpressureOptions {
  /** The stream new work goes to (full key) and the group that reads it (the stage's name). */
  stream: string;
  group: string;
  maxLag: number;
  /** A reading is reused this long. @defaultValue 250 */
  cacheMs?: number;
}

const field = (info: string, name: string): number | undefined => {
  const m = new RegExp(`^${name}:(\\d+)`, 'm').exec(info);
  return m ? Number(m[1]) : undefined;
};

export class Backpressure {
  private cached?: { at: number; value: Pressure };
  private inflight?: Promise<Pressure>;

  constructor(
    private readonly redis: Redis,
    readonly opts: BackpressureOptions,
  ) {}

  /** The input stage's backpressure: the stage reading the producer's stream (`config.input`). */
  static forInput(redis: Redis, config: ResolvedConfig, keys: Keys, cacheMs?: number): Backpressure {
    return Backpressure.forStage(redis, inputStage(config), keys, cacheMs);
  }

  /** Backpressure of one stage's input stream (DLQ replay into that stage, reprocessing). */
  static forStage(redis: Redis, stage: ResolvedStage, keys: Keys, cacheMs?: number): Backpressure {
    return new Backpressure(redis, {
      stream: keys.stream(stage.input),
      group: stage.name,
      maxLag: stage.maxLag,
      ...(cacheMs !== undefined ? { cacheMs } : {}),
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

  private async read(): Promise<Pressure> {
    const { stream, group, maxLag } = this.opts;
    const cluster = asCluster(this.redis);
    const node = cluster ? (masterForKey(cluster, stream) ?? this.redis) : this.redis;
    const [groups, length, info] = await Promise.all([
      (this.redis.xinfo('GROUPS', stream) as Promise<unknown[][]>).catch((err: unknown) => {
        if (/no such key/i.test(errorMessage(err))) return [] as unknown[][];
        throw err;
      }),
      this.redis.xlen(stream),
      node.info('memory'),
    ]);
    let lag = length; // no group yet: every entry is waiting
    for (const g of groups) {
      const m = new Map<string, unknown>();
      for (let i = 0; i + 1 < g.length; i += 2) m.set(String(g[i]), g[i + 1]);
      if (String(m.get('name')) !== group) continue;
      const l = m.get('lag');
      // Redis 7 reports nil when it cannot compute the lag (after deletions): the length bounds it.
      lag = l === null || l === undefined ? length : Number(l);
    }
    const usedMemory = field(info, 'used_memory');
    const maxMemory = field(info, 'maxmemory');
    const full = maxMemory !== undefined && maxMemory > 0 && usedMemory !== undefined && usedMemory >= maxMemory;
    const base = { lag, maxLag, ...(usedMemory !== undefined ? { usedMemory } : {}), ...(maxMemory ? { maxMemory } : {}) };
    if (full) return { clear: false, reason: 'oom', ...base };
    if (lag > maxLag) return { clear: false, reason: 'lag', ...base };
    return { clear: true, ...base };
  }

  /**
   * Resolve once new work may go in. While it may not, `onWait` is called after each reading
   * (every `pollMs`), e.g. to print progress; after `maxWaitMs` (0 = forever) it throws
   * BackpressureTimeoutError. Read errors propagate (the caller's retry policy decides).
   */
  async waitUntilClear(
    o: { pollMs?: number; maxWaitMs?: number; onWait?: (p: Pressure, waitedMs: number) => void; onClear?: (waitedMs: number) => void } = {},
  ): Promise<void> {
    const started = Date.now();
    let waited = false;
    for (;;) {
      const p = await this.check();
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
}

/** One line for a person: why new work waits. */
export function describe(p: Pressure): string {
  if (p.reason === 'oom')
    return `Redis is full: used_memory ${p.usedMemory} >= \`maxmemory\` ${p.maxMemory} (raise it, or free memory: nothing is lost, new work waits)`;
  if (p.reason === 'lag') return `the input lag ${p.lag} is above limits.maxLag ${p.maxLag}`;
  return `clear (lag ${p.lag} <= ${p.maxLag})`;
}

/** The stage that reads the producer's stream. */
export function inputStage(config: ResolvedConfig): ResolvedStage {
  const s = config.stages.find((x) => x.input === config.input);
  if (!s) throw new ConfigError('input', `no stage reads ${JSON.stringify(config.input)}`);
  return s;
}
