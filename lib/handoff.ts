import type { Redis } from 'ioredis';
import { backoffMs, sleep } from './backoff.js';
import { isTransientRedisError } from './errors.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import { Script } from './redis/script.js';
import { FIELD_ENVELOPE, FIELD_KEY } from './codec.js';

const script = new Script('handoff-N');
const produceScript = new Script('produce-batch-2');

/** One message's hand-off: ack `id`, and (only if that ack removed it) add `fields` to each target. */
export interface Forward {
  id: string;
  /** Full stream keys; empty = ack only. */
  targets: readonly string[];
  fields: readonly (string | Buffer)[];
}

/** At most this many keys per script call: target indexes are one byte each in the layout. */
const MAX_KEYS = 255;
/** Layout byte for the usual entry (fields k, e): its two values follow without the names. */
const USUAL = 255;

const isUsual = (fields: readonly (string | Buffer)[]) => fields.length === 4 && fields[0] === FIELD_KEY && fields[2] === FIELD_ENVELOPE;

/**
 * One script call's KEYS and ARGV for a run of forwards (see lib/lua/handoff-N.lua for the
 * layout). Starts at `from`, takes forwards while their targets fit in 255 keys; returns where it
 * stopped. Throws RangeError for a forward no call can carry.
 */
export function handOffArgs(source: string, group: string, forwards: readonly Forward[], from = 0): { keys: string[]; args: (string | Buffer)[]; next: number } {
  const keys = [source];
  const index = new Map<string, number>();
  const layout: number[] = [];
  const values: (string | Buffer)[] = [];
  let n = from;
  for (; n < forwards.length; n++) {
    const f = forwards[n]!;
    let added = 0; // targets not yet in KEYS (a rule never lists one twice; a repeat would only split early)
    for (const t of f.targets) if (!index.has(t)) added++;
    if (keys.length + added > MAX_KEYS) {
      if (n === from) throw new RangeError(`hand-off of ${f.id} names ${f.targets.length} targets; at most ${MAX_KEYS - 1} fit one call`);
      break;
    }
    const usual = isUsual(f.fields);
    if (!usual && (f.fields.length >= USUAL || f.fields.length % 2 !== 0)) throw new RangeError(`hand-off of ${f.id} has ${f.fields.length} field values; an even number below ${USUAL} is needed`);
    if (f.targets.length > 0 && f.fields.length === 0) throw new RangeError(`hand-off of ${f.id} forwards an entry without fields`);
    layout.push(usual ? USUAL : f.fields.length, f.targets.length);
    for (const t of f.targets) {
      let i = index.get(t);
      if (i === undefined) index.set(t, (i = keys.push(t))); // Lua KEYS are 1-based: the new length
      layout.push(i);
    }
    values.push(f.id);
    if (usual) values.push(f.fields[1]!, f.fields[3]!);
    else for (const v of f.fields) values.push(v);
  }
  return { keys, args: [group, Buffer.from(layout), ...values], next: n };
}

/**
 * Forward results and ack inputs: one script call per batch (more only when its targets exceed
 * 255 keys). Returns, per message, whether this call acked it (false: another consumer already
 * had, so nothing was forwarded twice).
 */
export async function handOff(redis: Redis, source: string, group: string, forwards: readonly Forward[]): Promise<boolean[]> {
  const out: boolean[] = [];
  for (let from = 0; from < forwards.length; ) {
    const { keys, args, next } = handOffArgs(source, group, forwards, from);
    const acked = await script.runLarge<number[]>(redis, keys, args);
    for (const n of acked) out.push(n === 1);
    from = next;
  }
  return out;
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
