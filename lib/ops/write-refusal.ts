import type { Redis } from 'ioredis';
import { errorMessage } from '../core/errors.js';
import { within } from '../core/io-deadline.js';
import { isMisconf } from '../core/redis-replies.js';
import { asCluster } from '../redis/url.js';

/**
 * Whether Redis refuses writes because it cannot persist to disk (MISCONF: its last RDB save failed
 * with `stop-writes-on-bgsave-error yes`, or an AOF write failed), asked with PING: Redis refuses
 * PING with the same MISCONF reply exactly while it refuses writes, and PING writes nothing and is
 * granted to every pipeline user (lib/ops/acl.ts `CONNECTION_COMMANDS`), where CONFIG GET (is
 * stop-writes-on-bgsave-error on?) is not, and INFO's `rdb_last_bgsave_status:err` alone does not say
 * whether writes are stopped. On a Cluster, every master is asked (one master's disk may be full).
 * Returns Redis's reply (`MISCONF ...`), or undefined when writes are taken or Redis cannot be asked
 * (the caller's own reads report that).
 */
export async function writeRefusal(redis: Redis): Promise<string | undefined> {
  const cluster = asCluster(redis);
  const nodes = cluster ? cluster.nodes('master') : [redis];
  const replies = await Promise.all(
    nodes.map((node) =>
      node.ping().then(
        () => undefined,
        (err: unknown) => (isMisconf(err) ? errorMessage(err) : undefined),
      ),
    ),
  );
  return replies.find((r) => r !== undefined);
}

/** What to do while Redis refuses writes so (its reply `refusal`): `pipeline health`'s reason, the first line of `status` and `top`, the console's banner. */
export function writeRefusalLine(refusal: string): string {
  // An AOF write error clears once a write to the AOF succeeds: stop-writes-on-bgsave-error is for a failed RDB save only.
  const lastResort = /\bAOF\b/.test(refusal)
    ? ''
    : '; as a last resort `CONFIG SET stop-writes-on-bgsave-error no` (as the admin: Redis then takes writes it may be unable to save)';
  return (
    `Redis refuses every write: it cannot persist to disk (its last RDB save or AOF write failed: a full disk, a read-only volume) [${refusal}]; ` +
    `free the disk or fix what failed the save (the Redis log names it), then \`BGSAVE\`${lastResort}`
  );
}

/**
 * `writeRefusal`, waited for at most `timeoutMs`: undefined when no answer came by then (a master that
 * hangs must not hold up what asks along with other reads, the console's sample). The PING itself is
 * left to the connection's own command timeout.
 */
export function writeRefusalWithin(redis: Redis, timeoutMs: number): Promise<string | undefined> {
  return within(timeoutMs, writeRefusal(redis));
}

/** What to do while Redis is full (its OOM reply `refusal`: maxmemory reached under noeviction): the console's amber banner. */
export function fullLine(refusal: string): string {
  return (
    `Redis is full (maxmemory reached, maxmemory-policy noeviction): it refuses writes [${refusal}]; raise \`maxmemory\` or free memory ` +
    '(trim or purge the DLQ, `pipeline export` then delete stored products): nothing is lost, the pipeline waits and goes on where it stopped'
  );
}

/** What to do while Redis evicts any key (`allkeys-*` set at run time, lib/api/eviction-guard.ts): the console's amber banner. */
export function evictingLine(policy: string): string {
  return (
    `Redis's maxmemory-policy is ${policy}: at maxmemory it evicts any key, stream entries and stored products among them, without an error, ` +
    "so the API refuses submissions (503 redis_evicts); set `CONFIG SET maxmemory-policy noeviction` (and in the server's config)"
  );
}
