import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { backoffMs, sleep } from '../core/backoff.js';
import { ProducerGapError, UnwritableTargetError } from '../core/errors.js';
import { isPermissionRefusal, isTransientRedisError, outageMetric } from '../core/failure-policy.js';
import type { Logger } from '../observe/logger.js';
import type { Metrics } from '../observe/metrics.js';
import { Script } from '../redis/script.js';
import { FIELD_ENVELOPE, FIELD_KEY } from './codec.js';
import { isKeyPermissionRefusal, isNoPermReply } from '../core/redis-replies.js';

const script = new Script('handoff-N');
const produceScript = new Script('produce-batch-2');

/** One message's hand-off: ack `id`, and (only if that ack removed it) add `fields` to each target. */
export interface Forward {
  id: string;
  /** Full stream keys; empty = ack only. */
  targets: readonly string[];
  fields: readonly (string | Buffer)[];
  /** The stage whose output this is; completions name it. Unset (dead letters): the committing stage. A fused stage's differs from the committing one's (lib/worker/fusion.ts). */
  stage?: string;
  /** Set when the record was revoked (`pipeline revoke`): acked here, its trip ends `revoked` (lib/stream/done.ts). */
  revoked?: { key: string; by: string; reason?: string };
}

/** At most this many keys per script call: target indexes are one byte each in the layout. */
const MAX_KEYS = 255;
/** Layout byte for the usual entry (fields k, e): its two values follow without the names. */
const USUAL = 255;

const isUsual = (fields: readonly (string | Buffer)[]) => fields.length === 4 && fields[0] === FIELD_KEY && fields[2] === FIELD_ENVELOPE;

/** Where a batch is handed off from: its stream, the consumer group, and the group's claim fence key (Keys.fence). */
export interface HandOffSource {
  stream: string;
  group: string;
  fenceKey: string;
  /**
   * The handing consumer's hand-off memory (Keys.livenessHandOff) and its TTL: each call's reply is
   * kept there, so a call the client sends again after losing its reply is answered as the first
   * was. Only for a consumer that hands off one batch at a time. @defaultValue none: no memory
   */
  memory?: { key: string; ttlMs: number };
}

/**
 * One script call's KEYS and ARGV for a run of forwards (see lib/lua/handoff-N.lua for the
 * layout). Starts at `from`, takes forwards while their targets fit in 255 keys; returns where it
 * stopped. Throws RangeError for a forward no call can carry.
 */
export function handOffArgs(
  src: HandOffSource,
  forwards: readonly Forward[],
  fence = '',
  from = 0,
  call = '',
): { keys: string[]; args: (string | Buffer)[]; next: number } {
  // Without a memory, the fence key stands in for it (declared, never touched: no call id).
  const memory = src.memory && call !== '' ? src.memory : undefined;
  const keys = [src.stream, src.fenceKey, memory?.key ?? src.fenceKey];
  const index = new Map<string, number>();
  const layout: number[] = [];
  // ARGV: group, fence, layout (filled in once known), call id, memory TTL, then each message's values.
  const args: (string | Buffer)[] = [src.group, fence, '', memory ? call : '', String(memory?.ttlMs ?? 0)];
  let n = from;
  for (; n < forwards.length; n++) {
    const f = forwards[n]!;
    let added = 0; // targets not yet in KEYS (a rule never lists one twice; a repeat would only split early)
    for (const t of f.targets) if (!index.has(t)) added++;
    if (keys.length + added > MAX_KEYS) {
      if (n === from) throw new RangeError(`hand-off of ${f.id} names ${f.targets.length} targets; at most ${MAX_KEYS - 3} fit one call`);
      break;
    }
    const usual = isUsual(f.fields);
    if (!usual && (f.fields.length >= USUAL || f.fields.length % 2 !== 0))
      throw new RangeError(`hand-off of ${f.id} has ${f.fields.length} field values; an even number below ${USUAL} is needed`);
    if (f.targets.length > 0 && f.fields.length === 0) throw new RangeError(`hand-off of ${f.id} forwards an entry without fields`);
    layout.push(usual ? USUAL : f.fields.length, f.targets.length);
    for (const t of f.targets) {
      let i = index.get(t);
      if (i === undefined) index.set(t, (i = keys.push(t))); // Lua KEYS are 1-based: the new length
      layout.push(i);
    }
    args.push(f.id);
    if (usual) args.push(f.fields[1]!, f.fields[3]!);
    else for (const v of f.fields) args.push(v);
  }
  args[2] = Buffer.from(layout);
  return { keys, args, next: n };
}

/** A claim fence value no call used before (claim-3.lua, handoff-N.lua): time, then 64 random bits. */
export function fenceToken(): string {
  return `${Date.now().toString(36)}.${randomBytes(8).toString('hex')}`;
}

/**
 * The `fence` argument for a batch whose read may have been lost with a failed-over master:
 * checked message by message, and the fence moves to a new token if anything is acked, so that a
 * consumer given the same entries afresh does not ack them with one XACK (handoff-N.lua).
 */
export function movingFence(): string {
  return `!${fenceToken()}`;
}

/** What a hand-off did. */
export interface HandOffResult {
  /** Per message: acked and forwarded by this call (false: it had been acked already, nothing was forwarded again). */
  acked: boolean[];
  /** The group's claim fence as the (last) script saw it: the value to read the next batch under. Undefined when nothing was sent. */
  fence?: string;
  /** Messages the fenced path found not pending (an operator's XACK or SETID); forwarded anyway. */
  odd: number;
}

/**
 * Forward results and ack inputs: one script call per batch (more only when its targets exceed
 * 255 keys). `fence` is the claim fence value seen before this batch was read ("" = unknown):
 * when it is still current, the script acks the batch with one XACK instead of one per message.
 */
export async function handOff(redis: Redis, src: HandOffSource, forwards: readonly Forward[], fence = '', call = fenceToken()): Promise<HandOffResult> {
  const out: HandOffResult = { acked: [], odd: 0 };
  for (let from = 0; from < forwards.length;) {
    const { keys, args, next } = handOffArgs(src, forwards, fence, from, `${call}.${from}`);
    let reply: [string, string, number, number?, ('WRONGTYPE' | 'NOPERM')?];
    try {
      reply = await script.runLarge(redis, keys, args);
    } catch (err) {
      // Redis checks a script's declared keys against the user's ACL before running it (nothing
      // written): find the target it refused, so its messages can be diverted.
      if (isKeyPermissionRefusal(err)) throw (await refusedTarget(redis, src, keys.slice(3))) ?? err;
      throw err;
    }
    const [seen, flags, odd, badKey, why] = reply;
    // A target failed the script's checks before any write: this call acked nothing.
    if (badKey !== undefined) throw new UnwritableTargetError(keys[badKey - 1]!, why ?? 'WRONGTYPE');
    for (let i = 0; i < flags.length; i++) out.acked.push(flags.charCodeAt(i) === 49 /* 1 */);
    out.fence = seen;
    out.odd += odd;
    from = next;
  }
  return out;
}

/**
 * Which of `targets` the hand-off script may not touch as this user: each is tried alone in a
 * hand-off of no messages (the script's checks only, nothing written). Undefined when all pass.
 */
async function refusedTarget(redis: Redis, src: HandOffSource, targets: readonly string[]): Promise<UnwritableTargetError | undefined> {
  for (const key of targets) {
    try {
      const [, , , bad, why] = await script.run<[string, string, number, number?, ('WRONGTYPE' | 'NOPERM')?]>(
        redis,
        [src.stream, src.fenceKey, src.fenceKey, key],
        [src.group, '', Buffer.alloc(0), '', '0'],
      );
      if (bad !== undefined) return new UnwritableTargetError(key, why ?? 'NOPERM');
    } catch (err) {
      if (isNoPermReply(err)) return new UnwritableTargetError(key, 'NOPERM');
      throw err;
    }
  }
  return undefined;
}

export interface CommitOptions {
  /** First retry delay after a transient Redis error; doubles, jittered, up to `retryMaxMs`. */
  retryBaseMs: number;
  retryMaxMs: number;
  /**
   * A forward whose target cannot be written (UnwritableTargetError): what to hand off instead,
   * normally the entry's dead letter. Without it, the error is thrown (nothing was acked).
   */
  divert?: (f: Forward, err: UnwritableTargetError) => Forward;
  /** Give up (throw) instead of retrying once this is true (shutdown). */
  stopping: () => boolean;
  /**
   * Given: a hand-off Redis refuses for this user's ACL (NOPERM on the stage's own stream or fence,
   * not a target: those are diverted) is retried in place like an outage, each refusal told here
   * (said once by the caller) instead of logged. @defaultValue none: thrown
   */
  onRefused?: (err: unknown) => void;
  /**
   * Each other transient error the hand-off is retried after (Redis full, unable to persist,
   * restarting) is told here before the wait: the caller's liveness record says what the batch
   * waits for, and waiting it out is no stall. @defaultValue none
   */
  onRetry?: (err: unknown) => void;
  logger: Logger;
  metrics: Metrics;
  tags: Record<string, string>;
}

/**
 * `handOff`, retried on transient Redis errors until it goes through (safe: a repeated hand-off
 * forwards nothing twice; retries check every message, since the first try may have gone through).
 * Returns how many messages this call acked (the rest had been acked by another consumer,
 * counted as suppressed duplicates) and the claim fence value it saw (undefined when there was
 * nothing to hand off, so no script ran).
 */
export async function commitHandOff(
  redis: Redis,
  src: HandOffSource,
  batch: readonly Forward[],
  fence: string,
  o: CommitOptions,
): Promise<{ fresh: number; fence?: string }> {
  if (batch.length === 0) return { fresh: 0 };
  let forwards = batch;
  const diverted = new Set<string>();
  // One id for these forwards, kept across retries: a retry of a call that went through is answered as it was.
  let call = fenceToken();
  for (let attempt = 1; ; attempt++) {
    try {
      const r = await handOff(redis, src, forwards, attempt === 1 ? fence : '', call);
      let fresh = 0;
      for (const a of r.acked) if (a) fresh++;
      o.metrics.increment('messages.out', fresh, o.tags);
      if (fresh < r.acked.length) {
        o.metrics.increment('messages.duplicates_suppressed', r.acked.length - fresh, o.tags);
        // Another consumer acked them first (a reclaim race), or their group was lost with a Redis
        // that restarted without persistence: the ids say which, to look up.
        o.logger.warn('handoff.already_acked', { count: r.acked.length - fresh, ids: forwards.filter((_, i) => !r.acked[i]).map((f) => f.id) });
      }
      if (r.odd > 0) {
        o.metrics.increment('handoff.unexpected_acked', r.odd, o.tags);
        o.logger.warn('handoff.unexpected_acked', {
          count: r.odd,
          hint: 'entries acked outside the pipeline (XACK, XGROUP SETID) while a consumer held them; they were forwarded',
        });
      }
      return { fresh, fence: r.fence };
    } catch (err) {
      o.metrics.increment('handoff.errors', 1, o.tags);
      if (err instanceof UnwritableTargetError && o.divert && !diverted.has(err.key)) {
        // Nothing was written by the refused call: send the messages routed there elsewhere (their
        // dead letters), the rest as they were, checked (an earlier call of this batch may have gone through).
        diverted.add(err.key);
        const divert = o.divert;
        o.logger.error('handoff.unwritable_target', { key: err.key, reason: err.reason, err });
        forwards = forwards.map((f) => (f.targets.includes(err.key) ? divert(f, err) : f));
        call = fenceToken();
        continue;
      }
      const refused = o.onRefused !== undefined && isPermissionRefusal(err);
      if (!(isTransientRedisError(err) || refused) || o.stopping()) throw err;
      const alert = outageMetric(err);
      if (alert) o.metrics.increment(alert, 1, o.tags);
      const delayMs = backoffMs(attempt, o.retryBaseMs, o.retryMaxMs);
      if (refused) o.onRefused!(err);
      else {
        o.logger.warn('handoff.retry', { attempt, delayMs, ids: forwards.map((f) => f.id), err });
        o.onRetry?.(err);
      }
      await sleep(delayMs);
    }
  }
}

/**
 * The producer's hand-off to the input stream, exactly once per record: `produce-batch-2.lua`
 * XADDs the batch and records under `stateKey`, in one step, how many of the run's records for
 * this stream are in (`start` + the batch) and `fingerprint`, a hash of them; what had gone
 * through is skipped. A batch whose fate is unknown (the connection dropped before the reply) can
 * be sent again, by the client's own resend or by the caller, without producing it twice.
 * `entries` are [key, envelope] pairs; returns how many were added by this call (0 = a re-send).
 * Throws ProducerGapError when the state counts fewer than `start` (records the run had added are gone).
 * `stateTtlMs`: how long the state key lives after the producer's last batch. @defaultValue 604800000 (7 days)
 */
export async function appendBatchOnce(
  redis: Redis,
  stream: string,
  stateKey: string,
  start: number,
  entries: readonly (readonly [string, Buffer])[],
  fingerprint = '',
  stateTtlMs = PRODUCER_STATE_TTL_MS,
): Promise<number> {
  return producedNow(await produceScript.run<[number, number]>(redis, [stream, stateKey], produceArgs(start, entries, fingerprint, stateTtlMs)), stream, start);
}

/** How long a producer's exactly-once state key lives after its last batch. */
export const PRODUCER_STATE_TTL_MS = 7 * 24 * 3600 * 1000;

/** `produce-batch-2.lua`'s ARGV. */
export function produceArgs(
  start: number,
  entries: readonly (readonly [string, Buffer])[],
  fingerprint: string,
  stateTtlMs = PRODUCER_STATE_TTL_MS,
): (string | Buffer | number)[] {
  const args: (string | Buffer | number)[] = [start, fingerprint, stateTtlMs, entries.length];
  for (const [k, e] of entries) args.push(k, e);
  return args;
}

/** `produce-batch-2.lua`'s reply: entries added, or ProducerGapError. */
export function producedNow([added, count]: [number, number], stream: string, start: number): number {
  if (added < 0) throw new ProducerGapError(stream, start, count);
  return added;
}
