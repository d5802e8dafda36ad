import type { Redis } from 'ioredis';
import { Periodic } from '../core/periodic.js';
import type { Logger } from '../observe/logger.js';
import type { Metrics } from '../observe/metrics.js';
import { keylessNode } from '../redis/keyless.js';
import { evictionRisk, evictsAnyKey, infoPolicy } from '../redis/policy.js';

export interface PolicyWatchDeps {
  /** The shared command connection. */
  redis: () => Redis;
  /** How often the policy is read again (the stage's `dataLossCheckMs`). */
  intervalMs: number;
  logger: Logger;
  metrics: Metrics;
  /** The worker's stage, the metric's `stage` tag. */
  stage: string;
  /** Who started under the policy read at start, for the line. @defaultValue 'the workers' */
  who?: string;
}

/**
 * A worker's watch on Redis's `maxmemory-policy` after start. The check at start refuses
 * `allkeys-*` and warns on `volatile-*`, but a policy set at run time (`CONFIG SET maxmemory-policy
 * allkeys-lru`, a common answer to OOM refusals) evicts streams, pending entries and stored products
 * without an error. So the policy is read again every `intervalMs`; each change is one line,
 * `redis.eviction_policy`: error for `allkeys-*`, warn for `volatile-*`, info back to `noeviction`.
 * The worker goes on: stopping it would not bring evicted keys back, nor keep the others. Every check
 * that reads an `allkeys-*` policy counts `redis.eviction_policy` (tagged `policy`), which an alert pages on.
 */
export class PolicyWatch {
  private readonly periodic: Periodic;
  private last: string | undefined;

  constructor(private readonly d: PolicyWatchDeps) {
    // A read that fails (Redis down) is said by the read loops; the next run reads again.
    this.periodic = new Periodic(
      () => this.check(),
      d.intervalMs,
      (err) => d.logger.debug('redis.eviction_policy_check_error', { err }),
    );
  }

  /** The policy last read when it evicts any key (`allkeys-*`), else undefined: the API server refuses records meanwhile. */
  get evicting(): string | undefined {
    return evictsAnyKey(this.last) ? this.last : undefined;
  }

  /** Start watching from `policy`, the one read at start. */
  start(policy: string | undefined): void {
    this.last = policy;
    this.periodic.start();
  }

  stop(waitMs: number): Promise<void> {
    return this.periodic.stop(waitMs);
  }

  /**
   * Read the policy once (INFO memory: a stage's user may not run CONFIG, and a refused CONFIG GET
   * every interval would fill the ACL log) and say a change; nothing when INFO does not show it.
   * On a Cluster, a master the worker already has a socket to (one serving its keys) answers.
   */
  async check(): Promise<void> {
    const policy = await infoPolicy(keylessNode(this.d.redis()));
    // Counted on every check, not once per change: the alert stays up while Redis may evict the pipeline's keys.
    if (evictsAnyKey(policy)) this.d.metrics.increment('redis.eviction_policy', 1, { stage: this.d.stage, policy });
    if (policy === undefined || policy === this.last) return;
    const was = this.last ?? null;
    this.last = policy;
    const risk = evictionRisk(policy);
    if (!risk) return this.d.logger.info('redis.eviction_policy', { policy, was });
    const line = { policy, was, err: `${risk}; changed at run time (${this.d.who ?? 'the workers'} started under ${was ?? 'an unknown policy'})` };
    if (evictsAnyKey(policy)) this.d.logger.error('redis.eviction_policy', line);
    else this.d.logger.warn('redis.eviction_policy', line);
  }
}
