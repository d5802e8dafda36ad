import type { Redis } from 'ioredis';
import { settleWithin } from '../core/periodic.js';
import type { Logger } from '../observe/logger.js';
import { Script } from '../redis/script.js';

/** Removes a consumer from its group only while it owns nothing pending, in one step (allow-oom). */
const deleteIdleConsumer = new Script('delete-idle-consumer-1');

/**
 * After a consumer's clean stop (every batch handed off): remove it from its group if it owns
 * nothing pending (lib/lua/delete-idle-consumer-1.lua checks and deletes atomically), so `status`,
 * `top` and `group.consumers` count live workers, not every worker stopped in the last
 * `consumerIdleRemoveMs`. Anything still pending keeps it, for the reclaimers. Never throws.
 */
export async function leaveGroup(d: { consumer: string; logger: Logger }, redis: Redis, source: string, group: string, waitMs: number): Promise<void> {
  if (redis.status !== 'ready') return;
  const left = deleteIdleConsumer.run<number>(redis, [source], [group, d.consumer, 0]).then(
    (removed) => {
      if (removed === 1) d.logger.info('consumer.left_group', { group, stream: source });
    },
    (err: unknown) => d.logger.warn('consumer.leave_group_error', { err }),
  );
  // A stop must not hang on a silent Redis: at most `waitMs` (the watchdog's stop bound).
  await settleWithin(left, waitMs);
}
