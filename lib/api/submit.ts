import type { Redis } from 'ioredis';
import { BadRecordError, errorMessage, ReplicationError } from '../core/errors.js';
import { parseJsonLine } from '../core/json-line.js';
import { randomBytes } from 'node:crypto';
import { sleep } from '../core/backoff.js';
import { ioDeadline } from '../core/io-deadline.js';
import { isTransientRedisError, isWriteRefused } from '../core/failure-policy.js';
import { validateRecord } from '../producer/record.js';
import type { Keys } from '../redis/keys.js';
import { Shards } from '../redis/shard.js';
import { Script } from '../redis/script.js';
import { encodeEnvelope, newEnvelope, type ProductRecord } from '../stream/codec.js';
import { notTakenMessage, OutcomeUnknown, ReplicasUnacknowledged } from './errors.js';
import { ReplicasShort, submitAndWait } from './submit-wait.js';
import type { ReplicaWait } from '../redis/replicas.js';

const submitScript = new Script('submit-N');

/** A record the API refused, with where (its index in the body: array position or NDJSON line - 1) and why. */
export interface Rejected {
  index: number;
  /** not_taken: Redis refused its part of the request (full); unknown: the connection failed on it (submitting it again is safe). */
  reason: 'invalid_utf8' | 'invalid_json' | 'invalid_record' | 'not_taken' | 'unknown';
  error: string;
}

/** Records per script call: keeps one call's run on the server short (10,000 records in one call held Redis about 130 ms). */
const CHUNK = 500;

/** An `application/x-ndjson` body: its text, told apart from a JSON body that is a string (one bad record, not NDJSON). */
export class NdjsonBody {
  /** `notUtf8`: the lines (0-based) whose bytes are not UTF-8, each with the offset of its first bad byte (lib/api/body-parsers.ts). */
  constructor(
    readonly text: string,
    readonly notUtf8: ReadonlyMap<number, number> = new Map(),
  ) {}
}

/** Records in a body, counted without parsing them (NDJSON: lines with any character but white space); stops past `max`. */
export function countRecords(body: unknown, max: number): number {
  if (Array.isArray(body)) return body.length;
  if (!(body instanceof NdjsonBody)) return 1;
  const text = body.text;
  let n = 0;
  for (let at = 0; at < text.length && n <= max;) {
    const end = text.indexOf('\n', at);
    const stop = end < 0 ? text.length : end;
    if (text.slice(at, stop).trim() !== '') n++;
    at = stop + 1;
  }
  return n;
}

/**
 * A request body as records: a JSON object (one record), a JSON array, or NDJSON text (one
 * record per line, blank lines skipped). Each is checked by the producer's own validateRecord
 * (lib/producer/record.ts), so the API accepts exactly what `pipeline produce` accepts.
 */
export function parseRecords(body: unknown, maxRecordBytes: number): { records: ProductRecord[]; indexes: number[]; rejected: Rejected[] } {
  const records: ProductRecord[] = [];
  const indexes: number[] = [];
  const rejected: Rejected[] = [];
  const check = (value: unknown, index: number, size?: number) => {
    try {
      records.push(validateRecord(value, maxRecordBytes, size));
      indexes.push(index);
    } catch (err) {
      if (!(err instanceof BadRecordError)) throw err;
      rejected.push({ index, reason: 'invalid_record', error: err.message });
    }
  };
  if (body instanceof NdjsonBody) {
    const lines = body.text.split('\n');
    lines.forEach((raw, i) => {
      if (raw.trim() === '') return;
      // As `pipeline produce` reads a line: a CRLF's CR is not the record's (nor counted in its size), a leading BOM is dropped.
      const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
      const badByte = body.notUtf8.get(i);
      if (badByte !== undefined) {
        rejected.push({ index: i, reason: 'invalid_utf8', error: `line ${i + 1}: not UTF-8 (byte ${badByte} of the line starts a sequence that is not)` });
        return;
      }
      let value: unknown;
      try {
        value = parseJsonLine(line);
      } catch (err) {
        rejected.push({ index: i, reason: 'invalid_json', error: `line ${i + 1}: ${errorMessage(err)}` });
        return;
      }
      check(value, i, Buffer.byteLength(line));
    });
  } else if (Array.isArray(body)) body.forEach((v, i) => check(v, i));
  else check(body, 0);
  return { records, indexes, rejected };
}

/** How a submit call survives a dropped connection: its marker's life and how long it is retried. */
export interface SubmitOptions {
  /** Status TTL of each id (config limits.statusTtlMs). */
  statusTtlMs: number;
  /** How long a call's marker is kept: a copy re-sent within it adds nothing (ApiLimits.submitDedupMs). */
  dedupMs: number;
  /** A call whose connection failed is sent again (same marker) until this long after it began (ApiLimits.submitRetryMs). */
  retryMs: number;
  /** Replicas that must have a call's records (WAIT; ApiLimits.submitWaitReplicas, "auto": 1 when the call's master has one). @defaultValue none: no WAIT */
  replicas?: ReplicaWait;
  /** One WAIT's timeout (ApiLimits.submitWaitTimeoutMs). @defaultValue 1000 */
  waitTimeoutMs?: number;
}

/**
 * Run one submit call exactly once: on a connection failure it is sent again with the same marker
 * (lib/lua/submit-N.lua adds nothing the second time) until `retryMs` has passed; so is a call
 * short of its replicas (ReplicationError, `replicas`). Redis refusing the write whole (full, or
 * unable to persist: `isWriteRefused`), or an error that is not the connection's, is thrown at once (nothing was written). Out of time after a try Redis
 * answered short of its replicas: ReplicasUnacknowledged (the records are on the master), not
 * "no reply from Redis".
 */
async function runOnce(call: () => Promise<unknown>, o: SubmitOptions): Promise<void> {
  const retryMs = o.retryMs;
  const deadline = Date.now() + retryMs;
  // The last try Redis answered but too few replicas acknowledged: what a 503 then says, not "no reply".
  let lastShort: ReplicasShort | undefined;
  const unacknowledged = (short: ReplicasShort) =>
    new ReplicasUnacknowledged(short.acked, short.wanted, o.waitTimeoutMs ?? 1_000, retryMs, String(o.replicas?.setting ?? 0));
  for (let attempt = 0; ; attempt++) {
    let cancel: (() => void) | undefined;
    const timedOut = new OutcomeUnknown(`no reply from Redis within ${retryMs} ms`);
    try {
      // A command sent while the connection is down waits in ioredis's queue: bounded by the deadline,
      // which fires only after the replies already received are read (a stalled event loop had run it first).
      const late = new Promise<never>((_, reject) => {
        cancel = ioDeadline(Math.max(0, deadline - Date.now()), () => reject(timedOut));
      });
      await Promise.race([call(), late]);
      return;
    } catch (err) {
      const full = isWriteRefused(err);
      // Short of its replicas (submitWaitReplicas): in on this master, which a failover may yet lose; sent again.
      const short = err instanceof ReplicationError;
      // Only while no other failure came after it (a dropped connection: the outcome is unknown as before).
      if (err instanceof ReplicasShort) lastShort = err;
      else if (err !== timedOut) lastShort = undefined;
      if (!short && (full || err instanceof OutcomeUnknown || !isTransientRedisError(err))) {
        // The deadline came during a WAIT after tries Redis answered short of replicas.
        if (err === timedOut && lastShort) throw unacknowledged(lastShort);
        if (attempt > 0 && !full) throw new OutcomeUnknown(`outcome unknown: ${errorMessage(err)}`);
        throw err;
      }
      if (Date.now() >= deadline)
        throw err instanceof ReplicasShort ? unacknowledged(err) : new OutcomeUnknown(`outcome unknown after ${retryMs} ms of retries: ${errorMessage(err)}`);
      await sleep(Math.min(100 * 2 ** attempt, 1_000, Math.max(0, deadline - Date.now())));
    } finally {
      cancel?.();
    }
  }
}

/** Records not taken by a request written in part: their places in `records`, and why. */
export interface NotTaken {
  indexes: number[];
  reason: 'not_taken' | 'unknown';
  error: string;
}

/**
 * The script calls of a request: each shard's records (in request order) in calls of up to 500,
 * shard after shard; each call's places in `records`. Unsharded: one shard, calls in request order.
 */
function calls(space: Shards, records: readonly ProductRecord[]): { keys: Keys; at: number[] }[] {
  const byShard = space.all.map(() => [] as number[]);
  records.forEach((r, i) => byShard[space.shardOf(r.id)]!.push(i));
  return byShard.flatMap((at, shard) => {
    const out: { keys: Keys; at: number[] }[] = [];
    for (let i = 0; i < at.length; i += CHUNK) out.push({ keys: space.all[shard]!, at: at.slice(i, i + CHUNK) });
    return out;
  });
}

/**
 * Add validated records to the input stream and mark each id queued (`{p}:status:<id>`, one SET), one
 * script call per 500 records (lib/lua/submit-N.lua), one after another. Sharded (`space` with
 * several shards): each record to its shard's input stream and status key (`space.keysFor(id)`,
 * the hash `pipeline produce` uses, so a product always lands on the same shard), each call one
 * shard's records (its keys share one slot on a Redis Cluster). A call either writes all of its
 * records or none (Redis refuses a script at its first write when full), and at most once: a call
 * whose connection dropped is sent again with the same marker until `retryMs`. When the first call
 * fails, nothing was taken and the error is thrown (429 / 503); when its outcome stayed unknown,
 * OutcomeUnknown (503 `outcome_unknown`); when a later one fails, the records of the calls before
 * it are in and the rest come back in `notTaken` (by their places in `records`), so the answer can
 * say which: never a refusal that took part of the request.
 */
export async function submitRecords(
  redis: Redis,
  space: Keys | Shards,
  input: string,
  records: readonly ProductRecord[],
  o: SubmitOptions,
): Promise<{ taken: number; notTaken?: NotTaken }> {
  const now = Date.now();
  const todo = calls(Shards.of(space), records);
  let taken = 0;
  for (const [n, { keys, at }] of todo.entries()) {
    const chunk = at.map((i) => records[i]!);
    const marker = `${keys.stream(input)}:submit:${randomBytes(12).toString('hex')}`;
    const args: (string | Buffer | number)[] = [o.statusTtlMs, now, o.dedupMs];
    for (const r of chunk) args.push(r.id, encodeEnvelope(newEnvelope(r, now)));
    const streamKeys = [keys.stream(input), marker, ...chunk.map((r) => keys.status(r.id))];
    try {
      // Read at each attempt: a retry after a reconnect may be on another master (auto: its own replica count).
      const call = async () => {
        const want = o.replicas ? await o.replicas.forKey(redis, keys.stream(input)) : 0;
        if (want > 0) await submitAndWait(redis, submitScript, streamKeys, args, want, o.waitTimeoutMs ?? 1_000);
        else await submitScript.run<number>(redis, streamKeys, args);
      };
      await runOnce(call, o);
      taken += chunk.length;
    } catch (err) {
      if (n === 0) throw err;
      const full = isWriteRefused(err);
      return {
        taken,
        notTaken: {
          indexes: todo
            .slice(n)
            .flatMap((c) => c.at)
            .sort((a, b) => a - b),
          reason: full ? 'not_taken' : 'unknown',
          error: full
            ? notTakenMessage(err)
            : err instanceof ReplicasUnacknowledged
              ? `outcome unknown: ${errorMessage(err)}`
              : `outcome unknown: ${errorMessage(err)}; submitting it again is safe (a product id is stored once)`,
        },
      };
    }
  }
  return { taken };
}
