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

/** Bytes of a msgpack str header + body for a string or Buffer (str only: Lua cmsgpack has no bin). */
function strSize(v: string | Buffer): number {
  return 5 + (typeof v === 'string' ? Buffer.byteLength(v) : v.length);
}

/** The batch as one msgpack array [[id, [key index...], [field, value...]], ...] (see lib/lua/handoff-N.lua). */
export function packForwards(forwards: readonly Forward[], keyIndex: (key: string) => number): Buffer {
  let size = 5;
  for (const f of forwards) {
    size += 1 + strSize(f.id) + 5 + 9 * f.targets.length + 5;
    for (const v of f.fields) size += strSize(v);
  }
  const out = Buffer.allocUnsafe(size);
  let o = 0;
  const arrayHeader = (n: number) => {
    out[o] = 0xdd;
    out.writeUInt32BE(n, o + 1);
    o += 5;
  };
  const str = (v: string | Buffer) => {
    out[o] = 0xdb;
    if (typeof v === 'string') {
      const n = out.write(v, o + 5);
      out.writeUInt32BE(n, o + 1);
      o += 5 + n;
    } else {
      out.writeUInt32BE(v.length, o + 1);
      v.copy(out, o + 5);
      o += 5 + v.length;
    }
  };
  arrayHeader(forwards.length);
  for (const f of forwards) {
    out[o++] = 0x93;
    str(f.id);
    arrayHeader(f.targets.length);
    for (const t of f.targets) {
      out[o] = 0xd2; // int 32
      out.writeInt32BE(keyIndex(t), o + 1);
      o += 5;
    }
    arrayHeader(f.fields.length);
    for (const v of f.fields) str(v);
  }
  return out.subarray(0, o);
}

/**
 * Forward results and ack inputs in one script call per batch. Returns, per message, whether this
 * call acked it (false: another consumer already had, so nothing was forwarded twice).
 */
export async function handOff(redis: Redis, source: string, group: string, forwards: readonly Forward[]): Promise<boolean[]> {
  if (forwards.length === 0) return [];
  const keys = [source];
  const index = new Map<string, number>();
  const keyIndex = (t: string) => {
    let i = index.get(t);
    if (i === undefined) {
      keys.push(t);
      i = keys.length; // Lua KEYS are 1-based
      index.set(t, i);
    }
    return i;
  };
  const packed = packForwards(forwards, keyIndex);
  const acked = await script.run<number[]>(redis, keys, [group, packed]);
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
