import type { Redis } from 'ioredis';
import type { ResolvedConfig } from '../config/types.js';
import { Keys } from '../redis/keys.js';
import { groupBacklog, LAG_ESTIMATE_CAP } from './group-backlog.js';
import { streamInfo } from './stream-info.js';

/** The consumer group of a webhook on every completion stream. */
export const webhookGroup = (name: string): string => `webhook:${name}`;

/** A webhook's group on `{p}:done`, summed over the shards. */
export interface WebhookGroup {
  name: string;
  /**
   * Completions not yet read by its group, as a stage's `group.lag` is read (lib/stream/group-backlog.ts);
   * null when it is unknown on some shard, or the group does not exist yet there (`pipeline webhooks`
   * makes it at the stream's end: nothing before waits for it).
   */
  lag: number | null;
  /** True when some shard's lag was counted (XRANGE, at most the cap), not reported. */
  lagEstimated?: true;
  /** Read, not yet delivered or given up on (in retry, or held by a process that crashed). */
  pending: number;
  /** The most consumers any shard's group has (`pipeline webhooks` processes that read it). */
  consumers: number;
}

/** What one shard's `{p}:done` holds: its end, and its groups' XINFO GROUPS rows. */
interface DoneShard {
  key: string;
  length: number;
  lastId: string;
  groups: Map<string, unknown>[];
}

async function readShard(redis: Redis, key: string): Promise<DoneShard> {
  const { stream, groups } = await streamInfo(redis, key);
  return { key, length: Number(stream?.get('length') ?? 0), lastId: String(stream?.get('last-generated-id') ?? '0-0'), groups };
}

/**
 * Each configured webhook's group on every shard's `{p}:done` (`pipeline status`, and the
 * monitor's `webhooks.lag` gauge): what a receiver that is down, or too few `pipeline webhooks`,
 * leaves waiting in Redis. `cap`: as `pipeline status`'s `lagEstimateCap`.
 */
export async function webhookGroups(redis: Redis, config: ResolvedConfig, cap = LAG_ESTIMATE_CAP): Promise<WebhookGroup[]> {
  if (config.webhooks.length === 0) return [];
  const shards = await Promise.all(Keys.shards(config.pipeline, config.shards).map((k) => readShard(redis, k.done)));
  return Promise.all(
    config.webhooks.map(async (h) => {
      const rows = shards.map((sh) => sh.groups.find((g) => g.get('name') === webhookGroup(h.name)));
      const lags = await Promise.all(rows.map((g, i) => (g ? groupBacklog(redis, shards[i]!.key, g, shards[i]!, cap) : { lag: null })));
      return {
        name: h.name,
        lag: lags.some((l) => l.lag === null) ? null : lags.reduce((a, l) => a + l.lag!, 0),
        ...(lags.some((l) => 'lagEstimated' in l && l.lagEstimated) ? { lagEstimated: true as const } : {}),
        pending: rows.reduce((a, g) => a + Number(g?.get('pending') ?? 0), 0),
        consumers: Math.max(0, ...rows.map((g) => Number(g?.get('consumers') ?? 0))),
      };
    }),
  );
}
