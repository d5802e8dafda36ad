import type { Redis } from 'ioredis';
import type { ResolvedConfig } from '../config/types.js';
import { PipelineError } from '../core/errors.js';
import { sleep } from '../core/backoff.js';
import { Script } from '../redis/script.js';
import { configShards } from '../redis/shard.js';
import { FINAL_STATUSES } from '../stream/done.js';
import { decodeStatus } from '../stream/status-value.js';
import { isWrongType } from '../core/redis-replies.js';

/**
 * Revoking ids (`pipeline revoke`, `POST /v1/products/{id}/revoke`), as Celery's `revoke(id)`: a
 * version of the id submitted before the revoke is acked unprocessed by the next stage that reads
 * it, its trip ending `revoked` (lib/stream/revokes.ts has the cut-off rule, lib/lua/revoke-4.lua
 * writes the marker). An id whose trip has ended changes nothing. Best effort: a record already in
 * a stage's hands (the store's included) finishes there.
 */
const script = new Script('revoke-4');

/** The longest `reason` a revoke takes (it is logged, kept in the marker and in the id's status). */
export const REVOKE_REASON_MAX = 500;
/** The longest id (as the API's product routes take). */
export const REVOKE_ID_MAX = 256;

/** A bad argument (empty id, too long a reason): names the field. */
export class RevokeInputError extends PipelineError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

export type RevokeResult =
  /**
   * Marked: `was` the id's status then (`unknown`: none, not seen yet or sent by `pipeline produce`);
   * `cutoff` the input stream's last id; `statusThen` its status value as stored ('' none): an end is a new value.
   */
  | { id: string; outcome: 'revoked'; was: string; cutoff: string; statusThen: string }
  /** Its trip had ended (stored, review, dead_lettered, revoked): nothing changed. */
  | { id: string; outcome: 'ended'; status: string };

/** Check one revoke's input; RevokeInputError naming what is wrong. */
export function checkRevokeInput(ids: readonly string[], reason: string | undefined): void {
  if (ids.length === 0) throw new RevokeInputError('id', 'no id given');
  for (const id of ids) {
    if (id.trim() === '') throw new RevokeInputError('id', 'an id is empty');
    if (id.length > REVOKE_ID_MAX) throw new RevokeInputError('id', `${JSON.stringify(id.slice(0, 40))}... is longer than ${REVOKE_ID_MAX} characters`);
  }
  if (reason !== undefined && reason.length > REVOKE_REASON_MAX) throw new RevokeInputError('reason', `longer than ${REVOKE_REASON_MAX} characters`);
}

/**
 * Revoke each id, on its record's shard: one script call each (each is one step), sent together so
 * a list of ids costs one round trip, not one per id.
 * `force`: mark it even when its last trip ended (`was` then says how): a version produced again
 * since by `pipeline produce`, which writes no `queued` status, is revoked too.
 */
export async function revokeIds(
  redis: Redis,
  config: ResolvedConfig,
  ids: readonly string[],
  who: { by: string; reason?: string; force?: boolean },
): Promise<RevokeResult[]> {
  checkRevokeInput(ids, who.reason);
  const shards = configShards(config);
  const finals = [...FINAL_STATUSES].join(' ');
  return Promise.all(
    ids.map(async (id): Promise<RevokeResult> => {
      const k = shards.keysFor(id);
      const [outcome, a, b, raw] = await script.run<[string, string, string?, string?]>(
        redis,
        [k.status(id), k.stream(config.input), k.revokes, k.reprocess(id)],
        [id, who.by, who.reason ?? '', config.limits.revokeTtlMs, finals, who.force ? '1' : '0'],
      );
      return outcome === 'ended' ? { id, outcome: 'ended', status: a } : { id, outcome: 'revoked', was: b || 'unknown', cutoff: a, statusThen: raw ?? '' };
    }),
  );
}

export interface RevokeWaitOptions {
  /** Give up after this long; ids still without an end are reported `waiting`. @defaultValue no deadline */
  timeoutMs?: number;
  /** How often the ids' statuses are read. @defaultValue 250 */
  pollMs?: number;
}

/**
 * Wait for the end of ids just marked (`--wait`): a final status written after the revoke (another
 * value than `statusThen`), `revoked` or what they became instead (a record already in the store's
 * hands is stored). Ids still without one at the deadline: `waiting`.
 */
export async function waitRevoked(
  redis: Redis,
  config: ResolvedConfig,
  marked: readonly Pick<Extract<RevokeResult, { outcome: 'revoked' }>, 'id' | 'statusThen'>[],
  o: RevokeWaitOptions = {},
): Promise<Map<string, string>> {
  const shards = configShards(config);
  const deadline = o.timeoutMs === undefined ? Infinity : Date.now() + o.timeoutMs;
  const ends = new Map<string, string>();
  const then = new Map(marked.map((m) => [m.id, m.statusThen]));
  let left = [...then.keys()];
  for (;;) {
    // One GET per id, on its shard's slot (a Cluster takes no cross-slot MGET); a legacy hash status is no new end.
    const values = await Promise.all(
      left.map((id) => redis.get(shards.keysFor(id).status(id)).catch((err: unknown) => (isWrongType(err) ? null : Promise.reject(err)))),
    );
    left = left.filter((id, i) => {
      const raw = values[i] ?? '';
      const s = raw === then.get(id) ? undefined : decodeStatus(raw || null).s;
      if (s === undefined || !FINAL_STATUSES.has(s)) return true;
      ends.set(id, s);
      return false;
    });
    if (left.length === 0 || Date.now() >= deadline) break;
    await sleep(Math.min(o.pollMs ?? 250, Math.max(0, deadline - Date.now())));
  }
  for (const id of left) ends.set(id, 'waiting');
  return ends;
}
