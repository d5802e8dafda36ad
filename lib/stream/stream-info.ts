import type { Redis } from 'ioredis';
import { isNoSuchKey } from '../core/redis-replies.js';
import { pairs } from '../core/reply-pairs.js';

/** One stream's XINFO STREAM and XINFO GROUPS replies, as maps. */
export interface StreamInfo {
  /** XINFO STREAM; null when the stream does not exist (nobody wrote to it yet). */
  stream: Map<string, unknown> | null;
  /** One XINFO GROUPS row per consumer group; none when the stream does not exist. */
  groups: Map<string, unknown>[];
}

/**
 * XINFO STREAM and XINFO GROUPS of `key`, sent together (`pipeline status`, the monitor's gauges,
 * the webhooks' lag). A stream nobody wrote to yet does not exist: that reads as empty. Any other
 * error is thrown.
 */
export async function streamInfo(redis: Redis, key: string): Promise<StreamInfo> {
  const missing =
    <T>(fallback: T) =>
    (err: unknown): T => {
      if (isNoSuchKey(err)) return fallback;
      throw err;
    };
  const [info, groups] = await Promise.all([
    (redis.xinfo('STREAM', key) as Promise<unknown[]>).catch(missing(null)),
    (redis.xinfo('GROUPS', key) as Promise<unknown[][]>).catch(missing([] as unknown[][])),
  ]);
  return { stream: info ? pairs(info) : null, groups: groups.map(pairs) };
}
