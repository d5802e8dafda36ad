import { createGroup } from '../stream/consumer-group.js';
import type { Redis } from 'ioredis';
import { decodeEnvelope, entryFields } from '../stream/codec.js';
import type { ResolvedConfig } from '../config/types.js';
import { toEntries } from '../stream/entries.js';
import { groupBacklog, LAG_ESTIMATE_CAP } from '../stream/group-backlog.js';
import { streamInfo } from '../stream/stream-info.js';
import type { Keys } from '../redis/keys.js';
import { configShards } from '../redis/shard.js';

export interface GroupStatus {
  name: string;
  /** Entries in the stream not yet delivered to the group (Redis 7 XINFO GROUPS `lag`; null if unknown). */
  lag: number | null;
  /**
   * True when Redis reported no lag (after deletions, or after a restart from the AOF, until the
   * group has read everything), or one the stream cannot hold (its counter wrong after a Cluster
   * failover: lib/stream/group-lag.ts), and `lag` was counted instead: the entries after last-delivered-id
   * (XRANGE, at most `lagEstimateCap`: at the cap, a lower bound).
   */
  lagEstimated?: boolean;
  /** Delivered but not yet acked. */
  pending: number;
  consumers: number;
  /** Entries the group has read so far (Redis 7 `entries-read`). */
  entriesRead: number | null;
  lastDeliveredId: string;
}

export interface StreamStatus {
  stream: string;
  key: string;
  length: number;
  /** Entries ever added (Redis 7 XINFO STREAM `entries-added`). */
  added: number;
  lastId: string;
  /** The stage that reads it, if any. */
  stage?: string;
  group?: GroupStatus;
}

export interface PipelineStatus {
  pipeline: string;
  /** Sharded pipelines: summed over the shards (lag null if any shard's is unknown, estimated if any shard's is; consumers: the most any shard's group has). */
  streams: StreamStatus[];
  dlq: number;
  stored: number;
  /** Revoke marks outstanding: entries of the revokes stream(s) `{p}:revokes`, kept `limits.revokeTtlMs` (lib/ops/revoke.ts). */
  revokeMarks: number;
  /** Records that ended `revoked`, all time (the counter `{p}:revoked`, Keys.revokedCount). */
  revoked: number;
  at: number;
  /** Only for a sharded pipeline (config `shards` > 1): each shard's own numbers, in shard order. */
  shards?: ShardStatus[];
}

/** The revoke figures a status carries (pipeline-wide and per shard). */
export type RevokeFigures = Pick<PipelineStatus, 'revokeMarks' | 'revoked'>;

/** Just the revoke figures of a status (the console's sample copies them). */
export const revokeFigures = ({ revokeMarks, revoked }: RevokeFigures): RevokeFigures => ({ revokeMarks, revoked });

export interface ShardStatus {
  shard: number;
  /** The shard's hash tag (`{products:3}`). */
  tag: string;
  streams: StreamStatus[];
  dlq: number;
  stored: number;
  revokeMarks: number;
  revoked: number;
}

export { pairs } from '../core/reply-pairs.js';

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** One stream's length and its group's lag/pending/consumers (the stage's, or `group` for a terminal stream); a missing stream reads as empty. */
async function streamStatus(
  redis: Redis,
  key: string,
  stream: string,
  stage: string | undefined,
  group: string | undefined,
  cap: number,
): Promise<StreamStatus> {
  const out: StreamStatus = { stream, key, length: 0, added: 0, lastId: '0-0', stage };
  const { stream: info, groups } = await streamInfo(redis, key);
  if (info) {
    out.length = Number(info.get('length') ?? 0);
    out.added = Number(info.get('entries-added') ?? out.length);
    out.lastId = String(info.get('last-generated-id') ?? '0-0');
  }
  for (const m of groups) {
    if (group === undefined || String(m.get('name')) !== group) continue;
    const lastDeliveredId = String(m.get('last-delivered-id'));
    const { lag, lagEstimated } = await groupBacklog(redis, key, m, out, cap);
    out.group = {
      name: group,
      lag,
      ...(lagEstimated ? { lagEstimated } : {}),
      pending: Number(m.get('pending') ?? 0),
      consumers: Number(m.get('consumers') ?? 0),
      entriesRead: num(m.get('entries-read')),
      lastDeliveredId,
    };
  }
  return out;
}

export interface StatusOptions {
  /** The group whose numbers a terminal stream reports (the console's `console` on review). @defaultValue none */
  terminalGroup?: string;
  /** When Redis reports no lag, count at most this many entries after the group's last-delivered-id instead (0: leave it unknown). @defaultValue 1000 */
  lagEstimateCap?: number;
}

/** One key set's stage streams, terminal streams, DLQ, store count, revoke marks and revoked count. */
async function keysStatus(redis: Redis, config: ResolvedConfig, keys: Keys, o: StatusOptions): Promise<Omit<ShardStatus, 'shard' | 'tag'>> {
  const cap = o.lagEstimateCap ?? LAG_ESTIMATE_CAP;
  const streams = await Promise.all([
    ...config.stages.map((s) => streamStatus(redis, keys.stream(s.input), s.input, s.name, s.name, cap)),
    ...config.streams.terminal.map((t) => streamStatus(redis, keys.stream(t), t, undefined, o.terminalGroup, cap)),
  ]);
  const [dlq, stored, revokeMarks, revoked] = await Promise.all([
    redis.xlen(keys.dlq),
    redis.scard(keys.products),
    redis.xlen(keys.revokes),
    redis.get(keys.revokedCount),
  ]);
  return { streams, dlq, stored, revokeMarks, revoked: Number(revoked ?? 0) };
}

/** Every stage stream, terminal stream and the DLQ (of every shard), read in one auto-pipelined round. */
export async function pipelineStatus(redis: Redis, config: ResolvedConfig, o: StatusOptions = {}): Promise<PipelineStatus> {
  const space = configShards(config);
  if (space.count === 1) return { pipeline: config.pipeline, ...(await keysStatus(redis, config, space.all[0]!, o)), at: Date.now() };
  const shards = await Promise.all(space.all.map(async (keys, shard) => ({ shard, tag: keys.tag, ...(await keysStatus(redis, config, keys, o)) })));
  const streams = shards[0]!.streams.map((_, i) =>
    sumStreams(
      shards.map((s) => s.streams[i]!),
      `{${config.pipeline}:*}`,
    ),
  );
  const total = (k: 'dlq' | 'stored' | 'revokeMarks' | 'revoked') => shards.reduce((n, s) => n + s[k], 0);
  return {
    pipeline: config.pipeline,
    streams,
    dlq: total('dlq'),
    stored: total('stored'),
    revokeMarks: total('revokeMarks'),
    revoked: total('revoked'),
    at: Date.now(),
    shards,
  };
}

const laterId = (a: string, b: string) => (idTime(a) > idTime(b) || (idTime(a) === idTime(b) && Number(a.split('-')[1]) > Number(b.split('-')[1])) ? a : b);

/** One stream over every shard: counts summed (null when any shard's is unknown), ids the latest. */
function sumStreams(parts: StreamStatus[], tagPattern: string): StreamStatus {
  const first = parts[0]!;
  const out: StreamStatus = {
    stream: first.stream,
    key: `${tagPattern}:${first.stream}`,
    length: parts.reduce((n, p) => n + p.length, 0),
    added: parts.reduce((n, p) => n + p.added, 0),
    lastId: parts.map((p) => p.lastId).reduce(laterId),
    stage: first.stage,
  };
  const groups = parts.map((p) => p.group);
  const name = groups.find(Boolean)?.name;
  if (name !== undefined) {
    // A shard whose group does not exist yet waits with its whole stream (as backlog() counts it).
    const sumOrNull = (f: (g: GroupStatus | undefined, p: StreamStatus) => number | null) => {
      let n = 0;
      for (let i = 0; i < parts.length; i++) {
        const v = f(groups[i], parts[i]!);
        if (v === null) return null;
        n += v;
      }
      return n;
    };
    out.group = {
      name,
      lag: sumOrNull((g, p) => (g ? g.lag : p.length)),
      ...(groups.some((g) => g?.lagEstimated) ? { lagEstimated: true } : {}),
      pending: groups.reduce((n, g) => n + (g?.pending ?? 0), 0),
      consumers: Math.max(...groups.map((g) => g?.consumers ?? 0)),
      entriesRead: sumOrNull((g) => (g ? g.entriesRead : 0)),
      lastDeliveredId: groups.map((g) => g?.lastDeliveredId ?? '0-0').reduce(laterId),
    };
  }
  return out;
}

/**
 * The sink of the pipeline's store stage (its `settings.sink`; `redis` without one): `stored`
 * (SCARD of the Redis store's key set) counts the products only when this is `redis`.
 */
export function storeSink(config: Pick<ResolvedConfig, 'stages'>): string {
  return String(config.stages.find((st) => st.kind === 'store')?.settings.sink ?? 'redis');
}

/** True when no stage has anything left: nothing undelivered, nothing pending. */
export function isIdle(status: PipelineStatus): boolean {
  // Sharded: every shard must be idle (the sums alone would hide a shard whose group is missing).
  if (status.shards) return status.shards.every((sh) => isIdle({ ...status, streams: sh.streams, shards: undefined }));
  return status.streams.every((s) => {
    if (!s.stage) return true; // terminal streams are nobody's work here
    if (!s.group) return s.length === 0; // no worker has joined yet
    return s.group.lag === 0 && s.group.pending === 0;
  });
}

/**
 * Work waiting for a stage's group: its lag; before the group exists, the stream length (every
 * entry is waiting). Null when Redis cannot tell (lag unknown after deletions).
 */
export function backlog(s: StreamStatus): number | null {
  if (!s.group) return s.length;
  return s.group.lag;
}

/** XGROUP CREATE ... MKSTREAM for every stage whose group is missing (KEDA's lag trigger needs the group). Returns the stages created. */
export async function ensureGroups(redis: Redis, config: ResolvedConfig): Promise<string[]> {
  const created = new Set<string>();
  await Promise.all(
    configShards(config).all.flatMap((keys) =>
      config.stages.map(async (s) => {
        if (await createGroup(redis, keys.stream(s.input), s.name)) created.add(s.name);
      }),
    ),
  );
  return [...created].sort();
}

/** Milliseconds from an entry id (`ms-seq`): when Redis added it. */
export function idTime(id: string): number {
  return Number(id.slice(0, id.indexOf('-')));
}

/**
 * Latency to reach a stream, from its newest `count` entries: for each, the time from the
 * producer's `producedAt` to when it was handed to this stream (the last hop's `doneAt`, or the
 * entry id's time for the producer's own stream). Undecodable entries are skipped.
 */
export async function arrivalLatencies(redis: Redis, key: string, count: number): Promise<number[]> {
  // The typed *Buffer method, not callBuffer: ioredis drops callBuffer's command name on an auto-pipelined connection.
  const reply = (await redis.xrevrangeBuffer(key, '+', '-', 'COUNT', count)) as unknown as [Buffer, Buffer[] | null][];
  const out: number[] = [];
  for (const { id, fields } of toEntries(reply)) {
    const { payload } = entryFields(fields);
    if (!payload) continue;
    try {
      const env = decodeEnvelope(payload);
      const arrived = env.hops.at(-1)?.doneAt ?? idTime(id);
      out.push(Math.max(0, arrived - env.producedAt));
    } catch {
      // Not an envelope (e.g. a foreign writer): nothing to measure; `pipeline dlq` reports bad entries.
    }
  }
  return out;
}

/**
 * Dead letters per stage, read incrementally: each `update` reads the DLQ entries added since the
 * last one (at most `maxPerUpdate`, so a huge DLQ is caught up over several calls). Once caught
 * up, a count that differs from the DLQ's length means entries went (replayed, purged, trimmed by
 * age): the tally starts again from the first entry (it had only ever grown). `byStage` is the last
 * count that reached the DLQ's end: a count under way (the first, or one started again after a
 * replay) is kept apart until it does (shown as it went, a DLQ of 25,000 had read 10,000, then
 * 20,000, for a sample each after every replay).
 */
export class DlqTally {
  private counted = new Map<string, number>();
  private counting = new Map<string, number>();
  private finished = false;
  private lastId = '0-0';
  constructor(
    private readonly key: string,
    private readonly maxPerUpdate = 10_000,
  ) {}

  /** Dead letters per stage at the last count that reached the DLQ's end (empty before the first: see `complete`). */
  get byStage(): ReadonlyMap<string, number> {
    return this.counted;
  }

  /** Whether `byStage` is a whole count: false until the first count reaches the DLQ's end. */
  get complete(): boolean {
    return this.finished;
  }

  async update(redis: Redis): Promise<void> {
    let budget = this.maxPerUpdate;
    let recounted = false;
    while (budget > 0) {
      const batch = Math.min(1000, budget);
      const entries = (await redis.xrange(this.key, `(${this.lastId}`, '+', 'COUNT', batch)) as [string, string[]][];
      for (const [id, fields] of entries) {
        this.lastId = id;
        let stage = '?';
        for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === 'stage') stage = fields[i + 1]!;
        this.counting.set(stage, (this.counting.get(stage) ?? 0) + 1);
      }
      budget -= entries.length;
      if (entries.length < batch) {
        const counted = [...this.counting.values()].reduce((a, b) => a + b, 0);
        if (recounted || counted === (await redis.xlen(this.key))) {
          this.counted = new Map(this.counting);
          this.finished = true;
          return;
        }
        this.counting.clear();
        this.lastId = '0-0';
        recounted = true;
      }
    }
  }
}
