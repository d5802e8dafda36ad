import type { Redis } from 'ioredis';
import { sleep } from '../core/backoff.js';
import { errorMessage } from '../core/errors.js';
import { within } from '../core/io-deadline.js';
import { classify, isTransientRedisError, isWriteRefused } from '../core/failure-policy.js';
import { describe, shardLabel, type Pressure } from '../producer/backpressure.js';
import { worstOf, type ShardedBackpressure } from '../producer/backpressure-shards.js';
import type { Shards } from '../redis/shard.js';
import type { ProductRecord } from '../stream/codec.js';
import { asCluster, masterForKey } from '../redis/url.js';
import { notTakenMessage, OutcomeUnknown, Unavailable } from './errors.js';
import { submitRecords, type NotTaken, type SubmitOptions } from './submit.js';

export interface ShardedSubmitDeps {
  redis: Redis;
  shards: Shards;
  /** The pipeline's input stream name (config `input`). */
  input: string;
  backpressure: ShardedBackpressure;
  /** `retryMs` (ApiLimits.submitRetryMs) also bounds how long an unreachable shard's lag check is tried again. */
  options: SubmitOptions;
  /** A shard's first reading not answered within this is read again later, the others going on (ApiLimits.shardReadingWaitMs). */
  readingWaitMs: number;
}

/** A request's submit: refused whole (`refused`: 429, nothing written), or taken but for `notTaken` (places in `records`). */
export type ShardedSubmit = { refused: Pressure } | { taken: number; notTaken: NotTaken[] };

type Reading = { shard: number; at: number[]; p: Pressure } | { shard: number; at: number[]; err: unknown };

/** A lag check that failed for an outage (Redis unreachable, failing over), to be tried again; not Redis full. */
const retriable = (err: unknown) => err instanceof Unavailable || (isTransientRedisError(err) && classify(err).outage !== 'redis_oom');

/**
 * Undefined when the shard can be read now; else why not: on a Redis Cluster, the connection to
 * the master of the shard's slot was lost (killed, failing over: reconnecting). Its first reading
 * is not sent then: a command to a master that is gone waits in the client (up to
 * `redisCommandTimeoutMs`), and the shards that answer would wait with it.
 */
const LOST = new Set(['reconnecting', 'close', 'end']);

function unreachable(d: ShardedSubmitDeps, shard: number): Unavailable | undefined {
  const cluster = asCluster(d.redis);
  if (!cluster) return undefined;
  const node = masterForKey(cluster, d.shards.all[shard]!.stream(d.input));
  // `wait`: a lazy connection not opened yet; `connecting`: opening. Lost: `reconnecting`, `close`, `end`.
  // No node for the slot: the command is sent, so the client refreshes its slot map (a promoted replica).
  if (!node || !LOST.has(node.status)) return undefined;
  return new Unavailable(`the master of shard ${shard} is unreachable (connection ${node.status})`);
}

/** One shard's first reading: its Pressure, or why it could not be read (not sent to a lost master; not answered within `readingWaitMs`). */
async function firstRead(d: ShardedSubmitDeps, shard: number): Promise<Pressure> {
  const down = unreachable(d, shard);
  if (down) throw down;
  const p = await within(d.readingWaitMs, d.backpressure.shards[shard]!.check());
  if (!p) throw new Unavailable(`shard ${shard} gave no reading within ${d.readingWaitMs} ms`);
  return p;
}

/** A reading sent again (so the client finds the promoted master), waited for until `deadline` at most. */
async function readBy(d: ShardedSubmitDeps, shard: number, deadline: number): Promise<Pressure> {
  const p = await within(deadline - Date.now(), d.backpressure.shards[shard]!.check());
  if (!p) throw new Unavailable(`shard ${shard} gave no reading within ${d.options.retryMs} ms`);
  return p;
}

/**
 * Check the backlog of the shards a request's records go to, then write each shard's records
 * (docs/api.md "Sharded pipelines"). Every shard is read at once: a shard that answers over its
 * `maxLag` (or Redis full) refuses the whole request (429, nothing written). The records of the
 * shards that answered clear are written at once; a shard whose check failed for an outage (its
 * master killed, a failover) is checked again with backoff until `options.retryMs` after the
 * request began (no other wait), and its records are written when it answers clear, or come back
 * in `notTaken` (`not_taken`, nothing written: submitting them again is safe) when it does not.
 * Before, one shard not answering refused every record with 503, the healthy shards' included.
 * When no record at all was taken, the shard's error is thrown (503), as for an unsharded pipeline.
 */
export async function submitAcrossShards(d: ShardedSubmitDeps, records: readonly ProductRecord[]): Promise<ShardedSubmit> {
  const started = Date.now();
  const byShard = new Map<number, number[]>();
  records.forEach((r, i) => {
    const s = d.shards.shardOf(r.id);
    byShard.set(s, [...(byShard.get(s) ?? []), i]);
  });
  const readings: Reading[] = await Promise.all(
    [...byShard].map(([shard, at]) =>
      firstRead(d, shard).then(
        (p) => ({ shard, at, p }),
        (err: unknown) => ({ shard, at, err }),
      ),
    ),
  );
  const fatal = readings.find((r) => 'err' in r && !retriable(r.err));
  if (fatal && 'err' in fatal) throw fatal.err;
  const answered = readings.flatMap((r) => ('p' in r ? [r.p] : []));
  if (answered.length > 0) {
    const worst = worstOf(answered);
    if (!worst.clear) return { refused: worst };
  }
  const write = (at: number[]) => writeShard(d, records, at);
  const results = await Promise.all(readings.map((r) => ('p' in r ? write(r.at) : afterOutage(d, r, started, write))));
  const taken = results.reduce((n, r) => n + r.taken, 0);
  const behind = results.find((r) => r.pressure !== undefined);
  if (taken === 0 && behind?.pressure) return { refused: behind.pressure };
  // An outcome unknown first: a 503 `unavailable` would say nothing went in.
  const failed = results.find((r) => r.err instanceof OutcomeUnknown) ?? results.find((r) => r.err !== undefined);
  if (taken === 0 && failed) throw failed.err;
  return { taken, notTaken: results.flatMap((r) => r.notTaken ?? []) };
}

interface ShardResult {
  taken: number;
  notTaken?: NotTaken;
  /** Why nothing of this shard was taken (thrown when no shard took anything). */
  err?: unknown;
  /** The shard answered over its limit once it was back (a 429 when no shard took anything). */
  pressure?: Pressure;
}

/** One shard's records (places `at` in `records`) written; a failure of its first call is its records not taken. */
async function writeShard(d: ShardedSubmitDeps, records: readonly ProductRecord[], at: number[]): Promise<ShardResult> {
  try {
    const { taken, notTaken } = await submitRecords(
      d.redis,
      d.shards,
      d.input,
      at.map((i) => records[i]!),
      d.options,
    );
    return { taken, ...(notTaken ? { notTaken: { ...notTaken, indexes: notTaken.indexes.map((i) => at[i]!) } } : {}) };
  } catch (err) {
    const full = isWriteRefused(err);
    const error = full ? notTakenMessage(err) : `outcome unknown: ${errorMessage(err)}; submitting it again is safe (a product id is stored once)`;
    return { taken: 0, notTaken: { indexes: at, reason: full ? 'not_taken' : 'unknown', error }, err };
  }
}

/** A shard whose lag check failed for an outage: checked again until `retryMs` after `started`, then written, or its records not taken. */
async function afterOutage(
  d: ShardedSubmitDeps,
  r: { shard: number; at: number[]; err: unknown },
  started: number,
  write: (at: number[]) => Promise<ShardResult>,
): Promise<ShardResult> {
  const deadline = started + d.options.retryMs;
  let err = r.err;
  for (let attempt = 0; Date.now() < deadline; attempt++) {
    await sleep(Math.min(100 * 2 ** attempt, 1_000, Math.max(0, deadline - Date.now())));
    try {
      const p = await readBy(d, r.shard, deadline);
      if (p.clear) return write(r.at);
      return { taken: 0, notTaken: { indexes: r.at, reason: 'not_taken', error: `not taken: ${describe(p)}; submit it again later` }, pressure: p };
    } catch (e) {
      err = e;
      if (!retriable(e)) break;
    }
  }
  const name = shardLabel(d.backpressure.shards[r.shard]!.opts.shard ?? { index: r.shard, tag: String(r.shard) });
  const why = `${name} did not answer within ${d.options.retryMs} ms (${errorMessage(err)})`;
  const error = `not taken: ${why}; submitting it again is safe`;
  // The 503 when no shard took anything: it says the window passed (a non-outage error as it is).
  return { taken: 0, notTaken: { indexes: r.at, reason: 'not_taken', error }, err: retriable(err) ? new Unavailable(why) : err };
}
