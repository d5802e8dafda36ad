import type { Redis } from 'ioredis';
import type { ResolvedConfig } from '../config/types.js';
import { isNoSuchKey } from '../core/redis-replies.js';
import { pairs } from '../core/reply-pairs.js';
import { Keys } from '../redis/keys.js';
import { webhookGroup } from './reader.js';

/** A webhook's backlog as `pipeline status` shows it, summed over the shards. */
export interface WebhookStatus {
  name: string;
  /** Completions not yet read by its group (XINFO GROUPS `lag`); null when Redis cannot tell on some shard, or the group does not exist yet. */
  lag: number | null;
  /** Read, not yet delivered or given up on (in retry, or held by a process that crashed). */
  pending: number;
  /** The most consumers any shard's group has (`pipeline webhooks` processes that read it). */
  consumers: number;
  /** Entries of the webhook dead-letter streams (every webhook's: they share `{p}:webhooks:dlq`). */
  deadLetters: number;
}

/** Each configured webhook's group on every shard's `{p}:done`: what a receiver that is down, or too few `pipeline webhooks`, leaves waiting in Redis. */
export async function webhooksStatus(redis: Redis, config: ResolvedConfig): Promise<WebhookStatus[]> {
  if (config.webhooks.length === 0) return [];
  const shards = Keys.shards(config.pipeline, config.shards);
  const [groups, dlqs] = await Promise.all([
    Promise.all(shards.map((k) => (redis.xinfo('GROUPS', k.done) as Promise<unknown[][]>).catch((err) => (isNoSuchKey(err) ? [] : Promise.reject(err))))),
    Promise.all(shards.map((k) => redis.xlen(k.webhooksDlq))),
  ]);
  const deadLetters = dlqs.reduce((a, n) => a + n, 0);
  return config.webhooks.map((h) => {
    const rows = groups.map((list) => list.map(pairs).find((g) => g.get('name') === webhookGroup(h.name)));
    const lags = rows.map((g) => (g === undefined || g.get('lag') === null ? null : Number(g.get('lag'))));
    return {
      name: h.name,
      lag: lags.some((l) => l === null) ? null : lags.reduce((a: number, l) => a + l!, 0),
      pending: rows.reduce((a, g) => a + Number(g?.get('pending') ?? 0), 0),
      consumers: Math.max(0, ...rows.map((g) => Number(g?.get('consumers') ?? 0))),
      deadLetters,
    };
  });
}

/** One line per webhook for `pipeline status`. */
export function webhooksText(list: readonly WebhookStatus[]): string {
  return list
    .map((w) => `webhook ${w.name}: lag ${w.lag ?? 'unknown'}, pending ${w.pending}, consumers ${w.consumers}, webhook dead letters ${w.deadLetters}\n`)
    .join('');
}
