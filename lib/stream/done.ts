import type { Redis } from 'ioredis';
import { backoffMs, sleep } from '../core/backoff.js';
import { isTransientRedisError } from '../core/failure-policy.js';
import type { OutageWaitOptions } from '../core/outage-wait.js';
import type { Keys } from '../redis/keys.js';
import { Shards } from '../redis/shard.js';
import { FIELD_KEY } from './codec.js';
import { encodeStatus, type StatusValue } from './status-value.js';
import type { Forward } from './handoff.js';
import { isOutOfMemory } from '../core/redis-replies.js';

/**
 * Completions: where a product's trip ends. The store stage (stored), the dead-letter path
 * (dead_lettered, with the reason), any stage that meets a revoked record (revoked, with who and
 * why: lib/stream/revokes.ts) and routes into a terminal stream such as `review` append one
 * entry each to the capped stream `{p}:done` and set the id's status `{p}:status:<id>` (status-value.ts, with
 * a TTL). The API's waiters and SSE clients read the stream; `GET /v1/products/{id}` reads the hash.
 * A sharded pipeline (`shards` > 1) keeps them per shard, with the record's other keys:
 * `{p:N}:done` and `{p:N}:status:<id>`, on the master of the shard's slot (what its ACL users may write).
 *
 * Written **before** the entry is acked (store: after the sink has it; others: before the hand-off),
 * so a completion is never missing for an acked entry; a crash in between writes it twice, which
 * readers tolerate (same id, same status).
 */
export type FinalStatus = 'stored' | 'review' | 'dead_lettered' | 'revoked';

/** The statuses an id's trip ends with (its status key's `s`); anything else is on the way (`queued`). */
export const FINAL_STATUSES: ReadonlySet<string> = new Set<FinalStatus>(['stored', 'review', 'dead_lettered', 'revoked']);

export interface Completion {
  /** Product id (the record key). */
  key: string;
  status: FinalStatus;
  /** The stage that ended it (store, the stage that dead-lettered it, the stage that routed it to review). */
  stage: string;
  /** dead_lettered: why (max_deliveries, permanent_error, undecodable, no_route); review: the stream. */
  reason?: string;
  /** dead_lettered: the error text (first 500 characters). */
  error?: string;
  /** revoked: who revoked it (its `reason` is the operator's). */
  by?: string;
}

export interface CompletionSettings {
  /** XADD MAXLEN ~ this on `{p}:done` (config `limits.doneMaxLen`). */
  maxLen: number;
  /** TTL of each status key (config `limits.statusTtlMs`). */
  statusTtlMs: number;
}

/**
 * `{p}:done` fields and the status value's: s status, g stage, r reason, x error, b who (revoked), t time (ms).
 * `keys`: one shard's Keys (every completion goes there), or the pipeline's Shards (the store: each
 * completion goes to its record's shard, one pipelined round per shard, as a Cluster needs).
 */
export async function recordCompletions(redis: Redis, keys: Keys | Shards, list: readonly Completion[], s: CompletionSettings): Promise<void> {
  if (list.length === 0) return;
  if (keys instanceof Shards) {
    if (keys.count === 1) return recordCompletions(redis, keys.all[0]!, list, s);
    const byShard = new Map<Keys, Completion[]>();
    for (const c of list) {
      const k = keys.keysFor(c.key);
      const l = byShard.get(k);
      if (l) l.push(c);
      else byShard.set(k, [c]);
    }
    await Promise.all([...byShard].map(([k, l]) => recordCompletions(redis, k, l, s)));
    return;
  }
  const at = String(Date.now());
  const p = redis.pipeline();
  for (const c of list) {
    const fields = [FIELD_KEY, c.key, 's', c.status, 'g', c.stage, 't', at];
    if (c.reason) fields.push('r', c.reason);
    if (c.error) fields.push('x', c.error.slice(0, 500));
    if (c.by) fields.push('b', c.by);
    p.xadd(keys.done, 'MAXLEN', '~', s.maxLen, '*', ...fields);
    const status: StatusValue = { s: c.status, g: c.stage, t: Number(at) };
    if (c.reason) status.r = c.reason;
    if (c.error) status.x = c.error.slice(0, 500);
    if (c.by) status.b = c.by;
    p.set(keys.status(c.key), encodeStatus(status), 'PX', s.statusTtlMs);
    // Counted with the end it counts (`pipeline status`, the console, `/metrics`): no scan of statuses.
    if (c.status === 'revoked') p.incr(keys.revokedCount);
  }
  const replies = (await p.exec()) ?? [];
  for (const [err] of replies) if (err) throw err;
}

/** Field value of a hand-off's fields list (`[name, value, ...]`). */
function field(fields: readonly (string | Buffer)[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i]!.toString() === name) return fields[i + 1]!.toString();
  return undefined;
}

/**
 * The completions a batch's hand-off implies: revoked records' acks (revoked, who, why), forwards to the DLQ (dead_lettered, reason) and to
 * terminal streams only (`terminalKeys`, full stream keys → their names, e.g. review): a fan-out
 * that also goes to a stage is not an end (its store completion comes later). Each names the
 * stage that made the forward: `f.stage`, else `committer`, the stage committing the batch. Pure.
 */
export function completionsOf(forwards: readonly Forward[], committer: string, dlqKey: string, terminalKeys: ReadonlyMap<string, string>): Completion[] {
  const out: Completion[] = [];
  for (const f of forwards) {
    const stage = f.stage ?? committer;
    if (f.revoked) {
      out.push({ key: f.revoked.key, status: 'revoked', stage, by: f.revoked.by, ...(f.revoked.reason ? { reason: f.revoked.reason } : {}) });
      continue;
    }
    for (const t of f.targets) {
      if (t === dlqKey) {
        const key = field(f.fields, FIELD_KEY);
        if (key !== undefined)
          out.push({ key, status: 'dead_lettered', stage, reason: field(f.fields, 'reason') ?? 'unknown', error: field(f.fields, 'error') });
        break;
      }
      const terminal = terminalKeys.get(t);
      // A fan-out that also goes on to a stage (e.g. low confidence: review AND extract) has not ended here.
      if (terminal !== undefined && f.targets.every((x) => terminalKeys.has(x))) {
        const key = field(f.fields, FIELD_KEY);
        if (key !== undefined) out.push({ key, status: 'review', stage, reason: terminal });
        break;
      }
    }
  }
  return out;
}

/**
 * recordCompletions for a consumer's batch, before its hand-off: a transient Redis error (OOM,
 * connection lost) is retried with backoff, so the batch waits like its hand-off would; any other
 * error is logged (`done.error`) and counted (`completions.errors`) and the hand-off goes on: the
 * record itself is safe in the DLQ / review stream, only its completion event is missing.
 * Throws only when stopping with the write still failing (the batch then stays pending).
 */
export async function recordCompletionsForBatch(
  redis: Redis,
  keys: Keys,
  list: readonly Completion[],
  s: CompletionSettings,
  r: OutageWaitOptions,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await recordCompletions(redis, keys, list, s);
    } catch (err) {
      r.metrics.increment('completions.errors', 1, r.tags);
      const transient = isTransientRedisError(err) || isOutOfMemory(err);
      r.logger.warn('done.error', { err, completions: list.length, attempt, transient });
      if (!transient) return;
      if (r.stopping()) throw err;
      r.onRetry?.(err);
      await sleep(backoffMs(attempt, r.retryBaseMs, r.retryMaxMs));
    }
  }
}
