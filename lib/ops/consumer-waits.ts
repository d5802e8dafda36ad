import type { Redis } from 'ioredis';
import type { ResolvedConfig } from '../config/types.js';
import { configShards } from '../redis/shard.js';
import { outageLine, waitingParts, waitingReason, type OutageRecord, type WaitingRecord } from './consumer-health.js';
import { pairs } from './inspect.js';

/** A consumer whose step waits for a permission its Redis user (or the store's database role) lacks, as its liveness record says. */
export interface PermissionWaitRow {
  stage: string;
  consumer: string;
  /** One line: user, command, keys, since when, the fix (a database role: what it lacks, the GRANT). */
  reason: string;
  /** `noperm` (a Redis user), `postgres_noperm` (the store's database role). */
  cause?: string;
  /** When the step began waiting (ms). */
  since?: number;
  /** What is missing: `a Redis permission`, `a PostgreSQL privilege`. */
  kind: string;
  /** The user, command and keys (a database role: what it lacks) and the fix, without the time. */
  detail: string;
}

/** A consumer whose batch waits out a dependency outage (Postgres down, a model server unreachable), as its liveness record's `outage` says. */
export interface OutageWaitRow {
  stage: string;
  consumer: string;
  /** What is out, for a person: `PostgreSQL`, `Redis`, what the stage names. */
  dependency: string;
  /** The outage class (lib/core/failure-policy.ts `Outage`). */
  cause?: string;
  /** When the batch began waiting (ms). */
  since?: number;
  /** The last try's error, one line. */
  error?: string;
  /** `<n> s for <dependency>: <error>`. */
  line: string;
}

/** What the stages' consumers wait for: permissions (a configuration error: `pipeline health` fails) and outages (waited out: information). */
export interface ConsumerWaits {
  permissions: PermissionWaitRow[];
  outages: OutageWaitRow[];
}

/**
 * What the stages' consumers wait for (`pipeline top`, `pipeline status`): every consumer named in
 * the stages' groups (XINFO CONSUMERS, every shard), and each stage's liveness record under each of
 * those names (a stage run fused in another's process has its markers under that process's
 * consumers), read for `waiting` (a Redis permission or a PostgreSQL privilege,
 * lib/worker/permission-notice.ts) and `outage` (a dependency outage waited out in place,
 * lib/worker/stage-runner.ts). Reads only: the observer may.
 */
export async function consumerWaits(redis: Redis, config: ResolvedConfig, now = Date.now()): Promise<ConsumerWaits> {
  const waits: ConsumerWaits = { permissions: [], outages: [] };
  for (const keys of configShards(config).all) {
    const listed = await Promise.all(
      config.stages.map((s) => (redis.xinfo('CONSUMERS', keys.stream(s.input), s.name) as Promise<unknown[][]>).catch(() => [] as unknown[][])),
    );
    const names = [...new Set(listed.flat().map((c) => String(pairs(c).get('name'))))];
    if (names.length === 0) continue;
    const probes = config.stages.flatMap((s) => names.map((consumer) => ({ stage: s.name, consumer })));
    const markers = await Promise.all(probes.map((p) => redis.get(keys.liveness(p.stage, p.consumer)).catch(() => null)));
    markers.forEach((m, i) => {
      const record = m ? parse(m) : {};
      const waiting = record.waiting as WaitingRecord | undefined;
      if (waiting)
        waits.permissions.push({
          ...probes[i]!,
          reason: waitingReason(waiting),
          ...(waiting.cause ? { cause: waiting.cause } : {}),
          ...(typeof waiting.since === 'number' ? { since: waiting.since } : {}),
          ...waitingParts(waiting),
        });
      const outage = record.outage as OutageRecord | undefined;
      if (outage)
        waits.outages.push({
          ...probes[i]!,
          dependency: outage.dependency ?? 'a dependency',
          ...(outage.cause ? { cause: outage.cause } : {}),
          ...(typeof outage.since === 'number' ? { since: outage.since } : {}),
          ...(outage.error ? { error: outage.error } : {}),
          line: outageLine(outage, now),
        });
    });
  }
  return waits;
}

function parse(raw: string): Record<string, unknown> {
  try {
    const v = JSON.parse(raw) as unknown;
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
