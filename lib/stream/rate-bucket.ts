import type { Redis } from 'ioredis';
import type { RateLimit } from '../config/rate-limit.js';
import { Script } from '../redis/script.js';

const script = new Script('rate-limit-1');

export interface Grant {
  /** Records the caller may read now (0..wanted). */
  granted: number;
  /** How long until the rest of `wanted` (at most the bucket's size) is available; 0 when all was granted. */
  waitMs: number;
}

/**
 * Take up to `wanted` tokens from the bucket `key` of a stage's `limit` (lib/lua/rate-limit-1.lua),
 * first putting back `returned` tokens taken before and not used.
 */
export async function takeTokens(redis: Redis, key: string, limit: RateLimit, wanted: number, returned = 0): Promise<Grant> {
  const [granted, waitMs] = await script.run<[number, number]>(redis, [key], [limit.records, limit.perMs, wanted, returned]);
  return { granted: Number(granted), waitMs: Number(waitMs) };
}

/**
 * The tokens a bucket has handed out in all (its `n`: granted minus returned; 0 when the key is
 * gone), read with HGET only: no token taken, no write, so a read-only user (the observer that
 * `pipeline up`'s supervisor runs as) may read it.
 */
export async function tokensUsed(redis: Redis, key: string): Promise<number> {
  const n = Number(await redis.hget(key, 'n'));
  return Number.isFinite(n) ? n : 0;
}
