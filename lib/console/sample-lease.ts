import type { Redis } from 'ioredis';
import { classify } from '../core/failure-policy.js';
import { errorMessage } from '../core/errors.js';
import { Script } from '../redis/script.js';

const lease = new Script('lease-1');

/**
 * Take or renew the console's series lease (one writer among all console processes). The lease is a
 * write (a function without `allow-oom`), so while Redis is full (maxmemory reached under noeviction)
 * Redis refuses it with OOM: that reply is returned as `full` (the sample names the outage, the amber
 * banner), not thrown (the page had gone "stale" with no word of why). Any other error is thrown.
 */
export async function renewLease(redis: Redis, key: string, holder: string, ttlMs: number): Promise<{ writer: boolean; full?: string }> {
  try {
    return { writer: (await lease.run<number>(redis, [key], [holder, ttlMs])) === 1 };
  } catch (err) {
    if (classify(err).outage !== 'redis_oom') throw err;
    return { writer: false, full: errorMessage(err) };
  }
}
