import type { Redis } from 'ioredis';
import { ConfigError } from '../core/errors.js';

/**
 * The server's `maxmemory-policy`: CONFIG GET, or, when the user may not run CONFIG (a pipeline
 * ACL user), INFO memory's `maxmemory_policy`. Undefined when INFO has no such field; throws
 * when INFO fails (Redis unreachable).
 */
export async function maxmemoryPolicy(redis: Redis): Promise<string | undefined> {
  try {
    const reply = (await redis.config('GET', 'maxmemory-policy')) as string[];
    if (reply[1]) return reply[1];
  } catch {
    // NOPERM for CONFIG: fall back to INFO, which every pipeline user may run
  }
  return infoPolicy(redis);
}

/** `maxmemory_policy` of INFO memory (every pipeline user may run INFO; no CONFIG refused into the ACL log): undefined when absent. */
export async function infoPolicy(redis: Redis): Promise<string | undefined> {
  return /^maxmemory_policy:(\S+)/m.exec(await redis.info('memory'))?.[1];
}

/** Whether `policy` evicts any key at maxmemory (`allkeys-*`): streams and stored products among them, so refused. */
export function evictsAnyKey(policy: string | undefined): policy is string {
  return policy?.startsWith('allkeys') === true;
}

/** What a policy other than `noeviction` does to the pipeline, for the warning; undefined for `noeviction`. */
export function evictionRisk(policy: string | undefined): string | undefined {
  if (policy === undefined) return 'maxmemory-policy unknown (neither CONFIG GET nor INFO memory shows it): make sure it is noeviction';
  if (policy === 'noeviction') return undefined;
  return `maxmemory-policy is ${policy}, not noeviction: when Redis reaches maxmemory it ${evictsAnyKey(policy) ? 'evicts any key' : "evicts keys with a TTL (the producer's exactly-once state among them)"}, so streams, pending entries, claim fences and producer state can vanish without an error; set \`maxmemory-policy noeviction\` (a full Redis then refuses writes, and the pipeline waits)`;
}

/**
 * Thrown at the start of a worker or producer when Redis evicts any key at maxmemory (`allkeys-*`):
 * stored products, stream entries and pending lists would vanish without an error (an audit's run
 * lost 11,174 of 20,000 stored products while `status` still said 20,000). `volatile-*` evicts
 * only keys with a TTL and stays a warning.
 */
export class EvictingPolicyError extends ConfigError {
  constructor(policy: string) {
    super('maxmemory-policy', `${evictionRisk(policy)}; refusing to start (CONFIG SET maxmemory-policy noeviction)`);
  }
}

/** Throws EvictingPolicyError for an `allkeys-*` policy; returns the policy otherwise. */
export function refuseEvictingPolicy(policy: string | undefined): string | undefined {
  if (evictsAnyKey(policy)) throw new EvictingPolicyError(policy);
  return policy;
}

/**
 * Check the eviction policy at start and warn loudly unless it is `noeviction`: `warn` gets one
 * line (a worker logs it as a structured `redis.eviction_policy` event, the CLI prints it on
 * stderr). Returns the policy. Never throws: when Redis cannot be asked, nothing is said here (the
 * command's own calls report why). `read` reads the policy: @defaultValue maxmemoryPolicy (`infoPolicy`
 * for a user whose refused CONFIG GET must not go into the ACL log, the API server's).
 */
export async function checkEvictionPolicy(
  redis: Redis,
  warn: (line: string, policy: string | undefined) => void,
  read: (redis: Redis) => Promise<string | undefined> = maxmemoryPolicy,
): Promise<string | undefined> {
  let policy: string | undefined;
  try {
    policy = await read(redis);
  } catch {
    return undefined;
  }
  const risk = evictionRisk(policy);
  if (risk) warn(risk, policy);
  return policy;
}
