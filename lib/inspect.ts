import type { Redis } from 'ioredis';
import type { ResolvedConfig } from './config/types.js';
import { Keys } from './redis/keys.js';

export interface GroupStatus {
  name: string;
  /** Entries in the stream not yet delivered to the group (Redis 7 XINFO GROUPS `lag`; null if unknown). */
  lag: number | null;
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
  streams: StreamStatus[];
  dlq: number;
  stored: number;
  at: number;
}

function pairs(raw: unknown[]): Map<string, unknown> {
  const m = new Map<string, unknown>();
  for (let i = 0; i + 1 < raw.length; i += 2) m.set(String(raw[i]), raw[i + 1]);
  return m;
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** One stream's length and its stage group's lag/pending/consumers; a missing stream reads as empty. */
async function streamStatus(redis: Redis, key: string, stream: string, stage?: string): Promise<StreamStatus> {
  const out: StreamStatus = { stream, key, length: 0, added: 0, lastId: '0-0', stage };
  const [info, groups] = await Promise.all([
    redis.xinfo('STREAM', key).catch(() => null) as Promise<unknown[] | null>,
    redis.xinfo('GROUPS', key).catch(() => []) as Promise<unknown[][]>,
  ]);
  if (info) {
    const m = pairs(info);
    out.length = Number(m.get('length') ?? 0);
    out.added = Number(m.get('entries-added') ?? out.length);
    out.lastId = String(m.get('last-generated-id') ?? '0-0');
  }
  for (const g of groups) {
    const m = pairs(g);
    if (String(m.get('name')) !== stage) continue;
    const lastDeliveredId = String(m.get('last-delivered-id'));
    // Redis reports lag as nil when it cannot compute it (after deletions); 0 is still certain
    // when the group has been delivered the stream's last entry.
    const lag = num(m.get('lag')) ?? (lastDeliveredId === out.lastId ? 0 : null);
    out.group = {
      name: stage,
      lag,
      pending: Number(m.get('pending') ?? 0),
      consumers: Number(m.get('consumers') ?? 0),
      entriesRead: num(m.get('entries-read')),
      lastDeliveredId,
    };
  }
  return out;
}

/** Every stage stream, terminal stream and the DLQ, read in one auto-pipelined round. */
export async function pipelineStatus(redis: Redis, config: ResolvedConfig): Promise<PipelineStatus> {
  const keys = new Keys(config.pipeline);
  const streams = await Promise.all([
    ...config.stages.map((s) => streamStatus(redis, keys.stream(s.input), s.input, s.name)),
    ...config.streams.terminal.map((t) => streamStatus(redis, keys.stream(t), t)),
  ]);
  const [dlq, stored] = await Promise.all([redis.xlen(keys.dlq), redis.scard(keys.products)]);
  return { pipeline: config.pipeline, streams, dlq, stored, at: Date.now() };
}

/** True when no stage has anything left: nothing undelivered, nothing pending. */
export function isIdle(status: PipelineStatus): boolean {
  return status.streams.every((s) => {
    if (!s.stage) return true; // terminal streams are nobody's work here
    if (!s.group) return s.length === 0; // no worker has joined yet
    return s.group.lag === 0 && s.group.pending === 0;
  });
}
