import type { Redis } from 'ioredis';

/**
 * Close a one-off connection (a probe) at once. ioredis's `disconnect()` on a socket that has
 * already closed (refused, dropped: status `end` with `retryStrategy: () => null`) arms a timer
 * to destroy it that nothing clears, which holds the process open for `disconnectTimeout` (2 s)
 * after its work is done: a CLI command or `npm start` ended late. Such a connection is skipped.
 */
export function dropConnection(redis: Redis): void {
  if (redis.status !== 'end') redis.disconnect();
}
