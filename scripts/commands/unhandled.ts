import { errorMessage } from '../../lib/core/errors.js';
import { isTransientRedisError } from '../../lib/core/failure-policy.js';

/**
 * A promise rejected with nobody waiting on it. ioredis's Cluster client leaves one of its own when a
 * slot-map refresh closes a connection it was using (ASKING while a slot moves to a new node): Node
 * then ended the process, a worker mid-batch or the producer mid-run. A lost Redis connection is
 * no reason to stop (the clients reconnect, the work is retried): logged as one warn line. Anything
 * else is a bug: `fail` (the CLI's fatal, exit 1).
 */
export function onUnhandledRejection(err: unknown, warn: (line: string) => void, fail: (err: unknown) => never): void {
  if (isTransientRedisError(err)) {
    warn(
      JSON.stringify({
        level: 'warn',
        event: 'process.unhandled_rejection',
        pid: process.pid,
        err: errorMessage(err),
        action: 'none: a Redis connection error, the clients reconnect',
      }),
    );
    return;
  }
  fail(err);
}
