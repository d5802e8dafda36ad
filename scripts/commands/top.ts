import type { Redis } from 'ioredis';
import { sleep } from '../../lib/core/backoff.js';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { percentile } from '../../lib/core/percentile.js';
import { arrivalLatencies, DlqTally, pipelineStatus, type PipelineStatus, type StreamStatus } from '../../lib/ops/inspect.js';
import { counterDelta, perSecond, readCount, shardCounters } from '../../lib/ops/rates.js';
import { createClient } from '../../lib/redis/url.js';
import { configShards, type Shards } from '../../lib/redis/shard.js';
import { liveFusedRoutes } from '../../lib/ops/fusion-live.js';
import { cliRedis, loadConfig, type GlobalOptions } from './common.js';
import { fusedLine, pausedLine, pausedRows, rateLimitLine, rateLimitRows, revokesText, storedText, type PausedRow, type RateLimitRow } from './status.js';
import { storeSink } from '../../lib/ops/inspect.js';
import { consumerWaits, type OutageWaitRow, type PermissionWaitRow } from '../../lib/ops/consumer-waits.js';
import { writeRefusal, writeRefusalLine } from '../../lib/ops/write-refusal.js';

export interface TopOptions extends GlobalOptions {
  once?: boolean;
  /** Refresh interval in ms (also the rate window of `--once`). */
  interval: string;
  /** Newest entries per stream sampled for the latency percentiles. */
  sample: string;
}

/** One stream's line: a stage's input (with its group) or a terminal stream. */
export interface TopRow {
  stage: string | null;
  stream: string;
  length: number;
  lag: number | null;
  pending: number | null;
  consumers: number | null;
  /** Entries added to the stream per second (XINFO STREAM entries-added delta); null on the first frame and when the counter went backwards (lib/ops/rates.ts). */
  inRate: number | null;
  /** Entries delivered to the group per second (XINFO GROUPS entries-read delta); null as `inRate`. */
  readRate: number | null;
  /** Produced → handed to this stream, over its newest entries (ms). */
  p50: number | null;
  p99: number | null;
  /** Dead letters this stage produced. */
  dlq: number | null;
}

export interface TopFrame {
  pipeline: string;
  at: number;
  rows: TopRow[];
  dlq: number;
  stored: number;
  /** Records that ended `revoked`, all time. */
  revoked: number;
  /** Revoke marks outstanding (`{p}:revokes`, every shard's). */
  revokeMarks: number;
  /** The store stage's sink: `stored` counts the redis sink's products only. @defaultValue redis */
  sink?: string;
  /** Stages that run fused after another, as their workers report (lib/ops/fusion-live.ts): their streams see only what is not. */
  fused: { from: string; to: string }[];
  /** Consumers waiting for a Redis permission their user lacks (their liveness records say so). @defaultValue none */
  waiting?: PermissionWaitRow[];
  /** Consumers whose batch waits out a dependency outage (Postgres down, ...): what for, since when, the last error. @defaultValue none */
  outages?: OutageWaitRow[];
  /** Stages paused (`pipeline pause`): who, when, why. @defaultValue none */
  paused?: PausedRow[];
  /** Stages with a `rateLimit` (config), per shard when sharded. @defaultValue none */
  rateLimits?: RateLimitRow[];
  /** Redis's MISCONF reply while it refuses writes because it cannot persist (lib/ops/write-refusal.ts): the header's first line. @defaultValue none */
  redisRefusesWrites?: string;
}

/** Samples the pipeline from Redis alone: XINFO for counts and rates, XREVRANGE + envelopes for latency, the DLQ by stage. */
export class TopSampler {
  private prev?: PipelineStatus;
  private readonly shards: Shards;
  /** One per shard (one DLQ per shard). */
  private readonly dlqs: DlqTally[];

  constructor(
    private readonly redis: Redis,
    private readonly config: ResolvedConfig,
    private readonly sampleSize: number,
  ) {
    this.shards = configShards(config);
    this.dlqs = this.shards.all.map((k) => new DlqTally(k.dlq));
  }

  /** Dead letters of a stage, over every shard; null (`-`) until the first count of every DLQ is whole. */
  private dlqOf(stage: string): number | null {
    if (!this.dlqs.every((d) => d.complete)) return null;
    return this.dlqs.reduce((n, d) => n + (d.byStage.get(stage) ?? 0), 0);
  }

  async frame(): Promise<TopFrame> {
    // Sharded: each shard's newest entries, so the percentiles cover the whole pipeline.
    const perShard = Math.max(1, Math.ceil(this.sampleSize / this.shards.count));
    const [status, latencies, , fused, waits, paused, refusal] = await Promise.all([
      pipelineStatus(this.redis, this.config),
      Promise.all(
        [...this.config.stages.map((s) => s.input), ...this.config.streams.terminal].map(async (name) =>
          (await Promise.all(this.shards.all.map((k) => arrivalLatencies(this.redis, k.stream(name), perShard)))).flat(),
        ),
      ),
      Promise.all(this.dlqs.map((d) => d.update(this.redis))),
      liveFusedRoutes(this.redis, this.config, this.shards),
      consumerWaits(this.redis, this.config),
      pausedRows(this.redis, this.config),
      writeRefusal(this.redis),
    ]);
    const prev = this.prev;
    this.prev = status;
    const secs = prev ? (status.at - prev.at) / 1000 : 0;
    // A counter that went backwards (a failback, a group made again) gives no rate for this frame: lib/ops/rates.ts.
    const rate = (i: number, pick: (s: StreamStatus) => number | null) =>
      perSecond(counterDelta(shardCounters(status, i, pick), prev && shardCounters(prev, i, pick)), secs);
    const rows = status.streams.map((s, i): TopRow => {
      const lat = latencies[i] ?? [];
      return {
        stage: s.stage ?? null,
        stream: s.stream,
        length: s.length,
        lag: s.stage ? (s.group ? s.group.lag : s.length) : null,
        pending: s.stage ? (s.group?.pending ?? 0) : null,
        consumers: s.stage ? (s.group?.consumers ?? 0) : null,
        inRate: rate(i, (x) => x.added),
        readRate: s.stage ? rate(i, readCount) : null,
        p50: percentile(lat, 50),
        p99: percentile(lat, 99),
        dlq: s.stage ? this.dlqOf(s.stage) : null,
      };
    });
    return {
      pipeline: status.pipeline,
      at: status.at,
      rows,
      dlq: status.dlq,
      stored: status.stored,
      revoked: status.revoked,
      revokeMarks: status.revokeMarks,
      sink: storeSink(this.config),
      fused,
      waiting: waits.permissions,
      outages: waits.outages,
      paused,
      rateLimits: rateLimitRows(this.config),
      ...(refusal ? { redisRefusesWrites: refusal } : {}),
    };
  }
}

const COLUMNS = ['stage', 'stream', 'length', 'lag', 'pending', 'cons', 'in/s', 'read/s', 'p50 ms', 'p99 ms', 'dlq'] as const;

function cell(v: number | string | null, decimals = 0): string {
  if (v === null) return '-';
  return typeof v === 'number' ? v.toFixed(decimals) : v;
}

/** A frame as a fixed-width table (plain text; the live view adds ANSI around it). */
/** The refresh interval as the header says it: `250 ms` below a second, else `1.5 s`. */
export const intervalText = (ms: number): string => (ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`);

export function renderFrame(f: TopFrame, intervalMs: number): string {
  const rows: string[][] = [[...COLUMNS]];
  for (const r of f.rows) {
    rows.push([
      r.stage ?? '(terminal)',
      r.stream,
      cell(r.length),
      r.stage ? cell(r.lag ?? '?') : '-',
      cell(r.pending),
      cell(r.consumers),
      cell(r.inRate, 1),
      cell(r.readRate, 1),
      cell(r.p50),
      cell(r.p99),
      cell(r.dlq),
    ]);
  }
  const widths = COLUMNS.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
  const head = `pipeline ${f.pipeline}  ${new Date(f.at).toISOString()}  every ${intervalText(intervalMs)}`;
  // The lag grows and no consumer progresses while Redis refuses writes: that, not stuck workers, is the news (each frame asks again).
  const refused = f.redisRefusesWrites ? [writeRefusalLine(f.redisRefusesWrites)] : [];
  const note = fusedLine(f.fused);
  const fused = note ? ['', note] : [];
  const waiting = f.waiting?.length ? ['', ...f.waiting.map((w) => `${w.stage} (${w.consumer}) ${w.reason}`)] : [];
  // A lag that grows while a stage waits out an outage: the reason, a line per waiting consumer.
  const outages = f.outages?.length ? ['', ...f.outages.map((o) => `${o.stage} (${o.consumer}) waits ${o.line}`)] : [];
  const paused = f.paused?.length ? ['', pausedLine(f.paused)!] : [];
  const limited = rateLimitLine(f.rateLimits ?? []);
  const limits = limited ? ['', limited] : [];
  return (
    [
      head,
      ...refused,
      '',
      ...lines,
      '',
      `dlq ${f.dlq}  ${storedText(f.stored, f.sink ?? 'redis')}  ${revokesText(f)}`,
      ...fused,
      ...limits,
      ...paused,
      ...waiting,
      ...outages,
    ].join('\n') + '\n'
  );
}

const CLEAR = '\x1b[H\x1b[2J';
const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';

/** `pipeline top`: a live per-stage view refreshed every `--interval`; q or Ctrl-C quits. `--once` prints one frame. */
export async function topCommand(opts: TopOptions): Promise<void> {
  const config = loadConfig(opts);
  const intervalMs = Number(opts.interval);
  const sampleSize = Number(opts.sample);
  if (!(intervalMs > 0) || !(sampleSize > 0)) throw new Error('--interval and --sample must be positive numbers');
  if (opts.once) {
    const redis = cliRedis(config.redis.url);
    try {
      const sampler = new TopSampler(redis, config, sampleSize);
      await sampler.frame(); // the first sample only sets the base for the rates
      await sleep(intervalMs);
      process.stdout.write(renderFrame(await sampler.frame(), intervalMs));
    } finally {
      redis.disconnect();
    }
    return;
  }
  // Live: keep reconnecting if Redis goes away, show the error in place of the table meanwhile.
  const redis = createClient(config.redis.url, { connectionName: 'pipeline:top', maxRetriesPerRequest: 1, retryStrategy: (n) => Math.min(2_000, 200 * n) });
  redis.on('error', () => {}); // reported in the frame below; ioredis reconnects by itself
  const sampler = new TopSampler(redis, config, sampleSize);
  let quit: () => void = () => {};
  const done = new Promise<void>((res) => (quit = res));
  const stdin = process.stdin;
  const onKey = (key: Buffer) => {
    const k = key.toString();
    if (k === 'q' || k === 'Q' || k === '\u0003') quit();
  };
  if (stdin.isTTY) {
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onKey);
  }
  process.once('SIGINT', () => quit());
  process.once('SIGTERM', () => quit());
  process.stdout.write(HIDE_CURSOR);
  try {
    let stop = false;
    void done.then(() => (stop = true));
    while (!stop) {
      let text: string;
      try {
        text = renderFrame(await sampler.frame(), intervalMs);
      } catch (err) {
        text = `pipeline ${config.pipeline}: cannot read from Redis (${(err as Error).message}); retrying every ${intervalMs} ms\n`;
      }
      if (stop) break;
      process.stdout.write(CLEAR + text + '\nq quits\n');
      await Promise.race([sleep(intervalMs), done]);
    }
  } finally {
    process.stdout.write(SHOW_CURSOR);
    if (stdin.isTTY) {
      stdin.off('data', onKey);
      stdin.setRawMode(false);
      stdin.pause();
    }
    redis.disconnect();
  }
}
