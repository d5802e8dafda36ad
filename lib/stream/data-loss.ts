import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../observe/logger.js';
import type { Metrics } from '../observe/metrics.js';
import type { Keys } from '../redis/keys.js';

/**
 * Redis lost the pipeline's data: restarted empty without the AOF (or rolled back to an old
 * snapshot), or a failover promoted a replica that lacked writes. Nothing errors then: streams,
 * groups and products are simply gone. Two signs show it to a running worker:
 * - `group_vanished`: its consumer group is gone (NOGROUP on a read; lib/worker/loop-error.ts);
 * - `marker_gone` / `marker_changed`: the data-loss marker `{p}:epoch` it saw is gone or holds another id.
 * The marker is written once (SET NX: a random id and its creation time) by the first worker of a
 * Redis: a fresh Redis raises nothing, a restart with the AOF keeps it. What is seen is logged
 * (`redis.data_lost`, error), counted (`redis.data_lost`) and recorded in `{p}:data-lost` until an
 * operator acknowledges it (`pipeline health --ack-data-loss`, lib/ops/data-loss.ts).
 */
export type DataLossSign = 'group_vanished' | 'marker_gone' | 'marker_changed';

/** The `stage` of a report made by the API server's watch (`pipeline serve`: lib/api/server-data-loss-watch.ts), not a worker's. */
export const API_WITNESS = 'api';

/** Who saw it. */
export interface DataLossWitness {
  stage: string;
  consumer: string;
  logger: Logger;
  metrics: Metrics;
}

/** The fields of `{p}:data-lost` (a hash; the first report's fields stay, later ones count in `reports` and `lastAt`). */
export interface DataLossRecord {
  /** The shard's hash tag (`{products}`, `{products:3}`). */
  tag: string;
  /** First report, ms since the epoch. */
  at: number;
  /** `unrecorded` when the record has a time but not its details (a reporter of an older release, which wrote the time first, died between its writes). */
  what: DataLossSign | 'unrecorded';
  stage: string;
  consumer: string;
  /** The stream whose group vanished, or the marker's key. */
  stream: string;
  /** The marker the reporter had seen ('' if none yet). */
  seen: string;
  /** How many reports since the record was made, and the last one's time. */
  reports: number;
  lastAt: number;
}

/** A new marker value: a random id and the time it was made. */
export const newEpoch = (now = Date.now()): string => `${randomUUID()}@${new Date(now).toISOString()}`;

/**
 * The data-loss marker of one shard (`{p}:epoch`) as one worker saw it. `adopt` writes it if absent
 * (SET NX) and remembers what is there; `check` reads it again: gone or changed (after having seen
 * one) is a data loss, reported, then the marker now there (or a new one) is adopted.
 *
 * One loss is one report per worker per shard: a restart empty is seen both by the check (the
 * marker) and by each read loop of the shard (NOGROUP), in either order or at once. `check` and
 * `groupVanished` run one at a time, and after a report the marker adopted then names the loss:
 * a group found vanished while that marker is still there is the same loss (not reported again),
 * once per stream (its group is made again then, so a second NOGROUP on it is a new loss).
 */
export class EpochMarker {
  /** The marker last seen (undefined before the first adopt). */
  seen?: string;
  /** The marker adopted after this worker's last report, and the streams whose vanished group that report covered since. */
  private reported?: { marker: string; streams: Set<string> };
  /** The marker seen when a loss was said (line, count) whose record is not written yet: said once, recorded at a later run. */
  private said?: string;
  /** The check and the vanished-group path, one at a time. */
  private turn: Promise<unknown> = Promise.resolve();

  constructor(
    readonly keys: Keys,
    private readonly witness: DataLossWitness,
  ) {}

  /**
   * Write the marker if it is absent (no write when it is there: Redis full refuses writes), and
   * remember the one there. The one it wrote is remembered as written, not read back: Redis emptied
   * between the write and a read would leave nothing seen, and that loss unsaid.
   */
  async adopt(redis: Redis): Promise<string> {
    let found = await redis.get(this.keys.epoch);
    if (found === null) {
      const mine = newEpoch();
      found = (await redis.set(this.keys.epoch, mine, 'NX')) === 'OK' ? mine : await redis.get(this.keys.epoch);
    }
    this.seen = found ?? undefined;
    return found ?? '';
  }

  /** Read the marker: a loss when one was seen and it is gone or another; true then. Adopts what is there (or writes a new one). */
  check(redis: Redis): Promise<boolean> {
    return this.oneAtATime(async () => {
      if (this.seen === undefined) {
        await this.adopt(redis);
        return false;
      }
      const found = await redis.get(this.keys.epoch);
      if (found === this.seen) return false;
      await this.report(redis, found === null ? 'marker_gone' : 'marker_changed', this.keys.epoch, found ?? undefined);
      return true;
    });
  }

  /**
   * The consumer group of `stream` vanished (NOGROUP): report it, and write the marker anew if it
   * went with it; unless this worker reported the loss already (the marker it adopted then is still
   * there and this stream's group was not counted under it yet). True when reported.
   */
  groupVanished(redis: Redis, stream: string): Promise<boolean> {
    return this.oneAtATime(async () => {
      const r = this.reported;
      if (r && !r.streams.has(stream) && (await redis.get(this.keys.epoch)) === r.marker) {
        r.streams.add(stream);
        return false;
      }
      // The marker went too (a restart), or another worker already wrote a new one: one report for both signs.
      await this.report(redis, 'group_vanished', stream);
      this.reported!.streams.add(stream);
      return true;
    });
  }

  /**
   * Say the loss, record it, adopt the marker now there (or a new one), and remember it as this
   * report's. Said once even when a write fails (a user of an older ACL refused the record or the
   * marker, a replica READONLY): the next run records it again without a second line or count, and
   * once recorded, starts from the marker found, so a marker it may not write is no loss again.
   */
  private async report(redis: Redis, what: DataLossSign, stream: string, found?: string): Promise<void> {
    const seen = this.seen ?? '';
    // One loss: what happened to the marker seen (gone, then another written, or a group vanished with it), said once.
    if (this.said !== seen) sayDataLoss(this.keys, what, stream, seen, this.witness, found);
    this.said = seen;
    await recordDataLoss(redis, this.keys, what, stream, seen, this.witness);
    this.said = undefined;
    this.seen = found;
    this.reported = { marker: await this.adopt(redis), streams: new Set() };
  }

  private oneAtATime<T>(step: () => Promise<T>): Promise<T> {
    const next = this.turn.then(step, step);
    this.turn = next.catch(() => undefined);
    return next;
  }
}

/**
 * Say a data loss: an error line `redis.data_lost` (what, stream, stage, consumer, the marker seen
 * and found) and the counter `redis.data_lost` (tag `what`); recordDataLoss writes its record.
 */
export function sayDataLoss(keys: Keys, what: DataLossSign, stream: string, seen: string, w: DataLossWitness, found?: string): void {
  w.logger.error('redis.data_lost', {
    what,
    stream,
    stage: w.stage,
    consumer: w.consumer,
    tag: keys.tag,
    seen: seen || null,
    ...(found !== undefined ? { found } : {}),
    fix: 'Redis lost the pipeline data (restart without the AOF, or a failover that lost writes): re-produce what was lost, then `pipeline health --ack-data-loss`',
  });
  w.metrics.increment('redis.data_lost', 1, { stage: w.stage, what });
}

/**
 * Record a data loss in `{p}:data-lost` (its first report's fields kept, `reports` and `lastAt`
 * updated: several workers seeing one loss make one record). `now`: this report's time, by the
 * reporter's clock.
 *
 * `lastAt` is never earlier than `at`: reports come from several workers and the API server, each
 * with its own clock and in any order, so a report's own time may be earlier than the first
 * report's `at`; it is written as the latest of its time, `at` and the `lastAt` already there. Not a
 * function (lib/lua): the record is written just after Redis lost its data, the Functions library
 * with it, and a stage user may not load it; nor a MULTI (a stage user runs no transactions). The
 * read and the write are apart, but `at` does not change once written (HSETNX), so whatever runs
 * between them, `lastAt` stays at or after `at`; except when a loss after an acknowledgement rewrites
 * the record (`at` and `lastAt` together) while a late report of the old loss is between its read and
 * its write: parseDataLoss reads `lastAt` as at least `at`.
 */
export async function recordDataLoss(
  redis: Redis,
  keys: Keys,
  what: DataLossSign,
  stream: string,
  seen: string,
  w: DataLossWitness,
  now = Date.now(),
): Promise<void> {
  // The details before `at`, each only where absent, in one round trip: readers take a record by its
  // `at` (parseDataLoss), so none sees one without them; a reporter that dies between the writes
  // leaves details the next report keeps, not an `at` with blanks (before: HSETNX at, then HSET).
  const p = redis.pipeline();
  for (const [field, value] of Object.entries({ what, stage: w.stage, consumer: w.consumer, stream, seen })) p.hsetnx(keys.dataLost, field, value);
  p.hsetnx(keys.dataLost, 'at', String(now)).hincrby(keys.dataLost, 'reports', 1);
  for (const [err] of (await p.exec()) ?? []) if (err) throw err;
  const record = await redis.hgetall(keys.dataLost);
  // Acknowledged: the same loss (its reporters all saw the marker before it) stays so; another loss
  // (a marker seen since) is a record of its own again. A report the acknowledgement did not wait for
  // had raised the alarm again for a loss the operator had just dealt with.
  if (record.acked && record.seen !== seen) {
    await redis.hset(keys.dataLost, {
      what,
      stage: w.stage,
      consumer: w.consumer,
      stream,
      seen,
      at: String(now),
      reports: '1',
      lastAt: String(now),
      acked: '',
    });
    return;
  }
  await redis.hset(keys.dataLost, 'lastAt', String(latest(now, record.at, record.lastAt)));
}

/** The greatest of `now` and the times recorded (a field absent or not a number counts for nothing). */
const latest = (now: number, ...recorded: (string | undefined)[]): number => Math.max(now, ...recorded.map(Number).filter(Number.isFinite));

/** `{p}:data-lost` as read (HGETALL), or undefined when there is none or it is acknowledged. */
export function parseDataLoss(tag: string, h: Record<string, string>): DataLossRecord | undefined {
  // An acknowledged record stays (lib/ops/data-loss.ts ackDataLoss) to tell late reports of its loss from a new one.
  if (!h.at || h.acked) return undefined;
  return {
    tag,
    at: Number(h.at),
    what: (h.what as DataLossSign | undefined) ?? 'unrecorded',
    stage: h.stage ?? '',
    consumer: h.consumer ?? '',
    stream: h.stream ?? '',
    seen: h.seen ?? '',
    reports: Number(h.reports ?? 1),
    // Never before `at`: a record an older release wrote may hold an earlier one (its reporters' clocks, their order).
    lastAt: Math.max(Number(h.at), Number(h.lastAt ?? h.at)),
  };
}
