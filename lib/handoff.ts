import type { Redis } from 'ioredis';
import { backoffMs, sleep } from './backoff.js';
import { isTransientRedisError } from './errors.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import { Script } from './redis/script.js';

const script = new Script('handoff-N');
const produceScript = new Script('produce-batch-2');

/** One message's hand-off: ack `id`, and (only if that ack removed it) add `fields` to each target. */
export interface Forward {
  id: string;
  /** Full stream keys; empty = ack only. */
  targets: readonly string[];
  fields: readonly (string | Buffer)[];
}

/**
 * Forward results and ack inputs in one script call per batch. Returns, per message, whether this
 * call acked it (false: another consumer already had, so nothing was forwarded twice).
 */
export async function handOff(redis: Redis, source: string, group: string, forwards: readonly Forward[]): Promise<boolean[]> {
  if (forwards.length === 0) return [];
  const keys = [source];
  const index = new Map<string, number>();
  const args: (string | Buffer | number)[] = [group, forwards.length];
  for (const f of forwards) {
    args.push(f.id, f.targets.length);
    for (const t of f.targets) {
      let i = index.get(t);
      if (i === undefined) {
        keys.push(t);
        i = keys.length; // Lua KEYS are 1-based
        index.set(t, i);
      }
      args.push(i);
    }
    args.push(f.fields.length / 2, ...f.fields);
  }
  const acked = await script.run<number[]>(redis, keys, args);
  return acked.map((n) => n === 1);
}

export interface CommitOptions {
  /** First retry delay after a transient Redis error; doubles, jittered, up to `retryMaxMs`. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** Give up (throw) instead of retrying once this is true (shutdown). */
  stopping: () => boolean;
  logger: Logger;
  metrics: Metrics;
  tags: Record<string, string>;
}

/**
 * `handOff`, retried on transient Redis errors until it goes through (safe: a repeated hand-off
 * forwards nothing twice). Returns how many messages this call acked (the rest had been acked
 * by another consumer, counted as suppressed duplicates).
 */
export async function commitHandOff(redis: Redis, source: string, group: string, forwards: readonly Forward[], o: CommitOptions): Promise<number> {
  if (forwards.length === 0) return 0;
  for (let attempt = 1; ; attempt++) {
    try {
      const acked = await handOff(redis, source, group, forwards);
      const fresh = acked.filter(Boolean).length;
      o.metrics.increment('messages.out', fresh, o.tags);
      if (fresh < acked.length) {
        o.metrics.increment('messages.duplicates_suppressed', acked.length - fresh, o.tags);
        o.logger.info('handoff.already_acked', { count: acked.length - fresh });
      }
      return fresh;
    } catch (err) {
      o.metrics.increment('handoff.errors', 1, o.tags);
      if (!isTransientRedisError(err) || o.stopping()) throw err;
      const delayMs = backoffMs(attempt, o.retryBaseMs, o.retryMaxMs);
      o.logger.warn('handoff.retry', { attempt, delayMs, err });
      await sleep(delayMs);
    }
  }
}


/**
 * The producer's hand-off to the input stream, exactly once per batch: `produce-batch-2.lua`
 * XADDs the batch and records `seq` under `stateKey` in one step, and skips a batch whose `seq`
 * is already recorded. A batch whose fate is unknown (the connection dropped before the reply)
 * can be sent again, by the client's own resend or by the caller, without producing it twice.
 * `entries` are [key, envelope] pairs; returns how many were added by this call (0 = a re-send).
 * `stateTtlMs`: how long the sequence key lives after the producer's last batch. @defaultValue 604800000 (7 days)
 */
export async function appendBatchOnce(
  redis: Redis,
  stream: string,
  stateKey: string,
  seq: number,
  entries: readonly (readonly [string, Buffer])[],
  stateTtlMs = 7 * 24 * 3600 * 1000,
): Promise<number> {
  const args: (string | Buffer | number)[] = [seq, stateTtlMs, entries.length];
  for (const [k, e] of entries) args.push(k, e);
  return produceScript.run<number>(redis, [stream, stateKey], args);
}
