import type { Redis } from 'ioredis';
import type { ResolvedConfig } from '../config/types.js';
import { configShards } from '../redis/shard.js';
import { waitingReason, type WaitingRecord } from './consumer-health.js';
import { pairs } from './inspect.js';

/** A consumer whose step waits for a permission its Redis user (or the store's database role) lacks, as its liveness record says. */
export interface PermissionWaitRow {
  stage: string;
  consumer: string;
  /** One line: user, command, keys, since when, the fix (a database role: what it lacks, the GRANT). */
  reason: string;
}

/**
 * The stages' consumers that wait for a Redis permission or a PostgreSQL privilege (`pipeline top`): every consumer named in
 * the stages' groups (XINFO CONSUMERS, every shard), and each stage's liveness record under each of
 * those names (a stage run fused in another's process has its markers under that process's
 * consumers), read for `waiting` (lib/worker/permission-notice.ts). Reads only: the observer may.
 */
export async function permissionWaits(redis: Redis, config: ResolvedConfig): Promise<PermissionWaitRow[]> {
  const rows: PermissionWaitRow[] = [];
  for (const keys of configShards(config).all) {
    const listed = await Promise.all(
      config.stages.map((s) => (redis.xinfo('CONSUMERS', keys.stream(s.input), s.name) as Promise<unknown[][]>).catch(() => [] as unknown[][])),
    );
    const names = [...new Set(listed.flat().map((c) => String(pairs(c).get('name'))))];
    if (names.length === 0) continue;
    const probes = config.stages.flatMap((s) => names.map((consumer) => ({ stage: s.name, consumer })));
    const markers = await Promise.all(probes.map((p) => redis.get(keys.liveness(p.stage, p.consumer)).catch(() => null)));
    markers.forEach((m, i) => {
      const waiting = m ? (parse(m).waiting as WaitingRecord | undefined) : undefined;
      if (waiting) rows.push({ ...probes[i]!, reason: waitingReason(waiting) });
    });
  }
  return rows;
}

function parse(raw: string): Record<string, unknown> {
  try {
    const v = JSON.parse(raw) as unknown;
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
