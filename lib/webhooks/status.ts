import type { Redis } from 'ioredis';
import type { ResolvedConfig } from '../config/types.js';
import { Keys } from '../redis/keys.js';
import { webhookGroups, type WebhookGroup } from '../stream/webhook-groups.js';

/** A webhook's backlog as `pipeline status` shows it, summed over the shards (lib/stream/webhook-groups.ts). */
export interface WebhookStatus extends WebhookGroup {
  /** Entries of the webhook dead-letter streams (every webhook's: they share `{p}:webhooks:dlq`). */
  deadLetters: number;
}

/** Each configured webhook's group on every shard's `{p}:done`: what a receiver that is down, or too few `pipeline webhooks`, leaves waiting in Redis. */
export async function webhooksStatus(redis: Redis, config: ResolvedConfig): Promise<WebhookStatus[]> {
  if (config.webhooks.length === 0) return [];
  const shards = Keys.shards(config.pipeline, config.shards);
  const [groups, dlqs] = await Promise.all([webhookGroups(redis, config), Promise.all(shards.map((k) => redis.xlen(k.webhooksDlq)))]);
  const deadLetters = dlqs.reduce((a, n) => a + n, 0);
  return groups.map((g) => ({ ...g, deadLetters }));
}

/** One line per webhook for `pipeline status` (`~`: the lag was counted, Redis could not tell it). */
export function webhooksText(list: readonly WebhookStatus[]): string {
  return list
    .map(
      (w) =>
        `webhook ${w.name}: lag ${w.lagEstimated ? '~' : ''}${w.lag ?? 'unknown'}, pending ${w.pending}, consumers ${w.consumers}, webhook dead letters ${w.deadLetters}\n`,
    )
    .join('');
}
