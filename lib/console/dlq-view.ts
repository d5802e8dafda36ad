import type { Redis } from 'ioredis';
import { pairs } from '../ops/inspect.js';
import { listDeadLetters, scanDeadLetters, tallyDeadLetters, type DeadLetterEntry, type DeadLetterGroup } from '../ops/dlq.js';
import type { Shards } from '../redis/shard.js';
import { boundOn, byShard, comparePlaces, parseRef, refOf, shardField, type Place } from './shard-ref.js';
import { isNoSuchKey } from '../core/redis-replies.js';
import { UnknownStageError } from '../ops/pause.js';
import { echo } from '../api/echo.js';
import { DEAD_LETTER_REASONS } from '../stream/deadletter.js';

/**
 * The console's dead letters over every shard's DLQ (`{p:N}:dlq`; the one `{p}:dlq` unsharded):
 * pages merged in one order (entry id, then shard), counts summed, and each entry and group named
 * with its shard (lib/console/shard-ref.ts), so an action on it goes to its shard's DLQ.
 */

/** A listed dead letter: without its envelope bytes, with its shard (sharded pipelines). */
export type ListedDeadLetter = Omit<DeadLetterEntry, 'payload'> & { shard?: number };

/** Every DLQ's length and newest id (one XINFO STREAM each): `version` changes whenever any DLQ does. */
export async function dlqState(redis: Redis, shards: Shards): Promise<{ length: number; version: string }> {
  const states = await Promise.all(
    shards.all.map(async (keys) => {
      const info = await (redis.xinfo('STREAM', keys.dlq) as Promise<unknown[]>).catch((err: unknown) => {
        if (isNoSuchKey(err)) return [];
        throw err;
      });
      const m = pairs(info);
      return { length: Number(m.get('length') ?? 0), newest: String(m.get('last-generated-id') ?? '') };
    }),
  );
  return { length: states.reduce((n, s) => n + s.length, 0), version: states.map((s) => `${s.length}:${s.newest}`).join(',') };
}

/**
 * Dead letters by stage and reason over each shard's oldest `max` (summed; `counted` in all), each
 * group's `newest` the reference of its newest entry in the merged order: the `until` its bulk actions stop at.
 */
export async function dlqTally(redis: Redis, shards: Shards, max: number): Promise<{ groups: DeadLetterGroup[]; counted: number }> {
  const tallies = await Promise.all(shards.all.map((keys) => tallyDeadLetters(redis, keys, max)));
  const groups = new Map<string, DeadLetterGroup & { place: Place }>();
  tallies.forEach((t, shard) => {
    for (const g of t.groups) {
      const k = `${g.stage}\u0000${g.reason}`;
      const place = { shard, id: g.newest };
      const had = groups.get(k);
      if (!had) groups.set(k, { ...g, place });
      else {
        had.count += g.count;
        if (comparePlaces(place, had.place) > 0) had.place = place;
      }
    }
  });
  return {
    groups: [...groups.values()].map(({ place, ...g }) => ({ ...g, newest: refOf(shards, place.shard, place.id) })),
    counted: tallies.reduce((n, t) => n + t.counted, 0),
  };
}

export interface DlqPageQuery {
  stage?: string;
  reason?: string;
  count: number;
  /** The reference of the entry the page starts after (exclusive). */
  after?: string;
}

/**
 * A page of dead letters, oldest first in the merged order, after `after`: each shard's DLQ is
 * scanned as `scanDeadLetters` does (at most `scanLimit` entries read per shard), and the page
 * holds only entries up to where every shard's scan reached, so the next page (after its last
 * entry, or after `scannedTo`) skips none. `complete`: every shard's scan reached its end.
 */
export async function dlqPage(
  redis: Redis,
  shards: Shards,
  q: DlqPageQuery,
  scanLimit: number,
): Promise<{ entries: ListedDeadLetter[]; scanned: number; complete: boolean; scannedTo: string }> {
  const cursor = q.after ? parseRef(shards, q.after, undefined, 'after') : undefined;
  const scans = await Promise.all(
    shards.all.map((keys, i) =>
      scanDeadLetters(redis, keys, { stage: q.stage, reason: q.reason, count: q.count, after: cursor && boundOn(i, cursor), scanLimit }),
    ),
  );
  // The merged place up to which every shard was read: a shard that stopped early has not read past its scannedTo.
  let reached: Place | undefined;
  scans.forEach((s, shard) => {
    const p = { shard, id: s.scannedTo };
    if (!s.complete && (!reached || comparePlaces(p, reached) < 0)) reached = p;
  });
  const found = scans
    .flatMap((s, shard) => s.entries.map((e) => ({ e, shard, id: e.id })))
    .filter((x) => !reached || comparePlaces(x, reached) <= 0)
    .sort(comparePlaces);
  const page = found.slice(0, q.count);
  const last = (() => {
    if (page.length === q.count && (found.length > q.count || reached)) return page.at(-1)!;
    if (reached) return reached;
    return scans
      .map((s, shard) => ({ shard, id: s.scannedTo }))
      .reduce<Place | undefined>((a, p) => (p.id && (!a || comparePlaces(p, a) > 0) ? p : a), undefined);
  })();
  return {
    entries: page.map(({ e: { payload: _p, ...e }, shard }) => ({ ...e, ...shardField(shards, shard) })),
    scanned: scans.reduce((n, s) => n + s.scanned, 0),
    complete: !reached && found.length <= q.count,
    scannedTo: last ? refOf(shards, last.shard, last.id) : '',
  };
}

/** A bulk action's selection: references, or each shard's oldest `max` of a reason and/or stage (or all) up to `until`. */
export interface DlqSelection {
  ids?: string[];
  reason?: string;
  stage?: string;
  all?: boolean;
  until?: string;
}

/** The dead letters a selection takes, by shard (undefined: it names none). */
export async function selectedByShard(redis: Redis, shards: Shards, b: DlqSelection, max: number): Promise<Map<number, string[]> | undefined> {
  if (b.ids?.length) return byShard(shards, b.ids);
  if (!b.reason && !b.stage && !b.all) return undefined;
  const until = b.until ? parseRef(shards, b.until, undefined, 'until') : undefined;
  const lists = await Promise.all(
    shards.all.map((keys, i) => listDeadLetters(redis, keys, { count: max, reason: b.reason, stage: b.stage, until: until && boundOn(i, until) })),
  );
  return new Map(lists.map((l, i) => [i, l.map((e) => e.id)]));
}

/**
 * The 404 body for a `stage` naming no stage, neither the config's (`stages`) nor one of the dead
 * letters counted (`groups`: a stage renamed since keeps its entries, listed and acted on by that
 * name); undefined when it names one. A typo had matched nothing and answered 200. A long one is cut (echo).
 */
export async function unknownDlqStage(
  stages: readonly string[],
  groups: () => Promise<readonly DeadLetterGroup[]>,
  stage: string | undefined,
): Promise<{ error: 'not_found'; message: string; field: 'stage' } | undefined> {
  if (stage === undefined || stages.includes(stage) || (await groups()).some((g) => g.stage === stage)) return undefined;
  return { error: 'not_found', message: new UnknownStageError(echo(stage), stages, false).message, field: 'stage' };
}

/**
 * The 400 body for a `reason` that is none of the reasons a dead letter can have (DEAD_LETTER_REASONS,
 * which `pipeline dlq list --reason` takes); undefined when it is one, or none is given. A typo had
 * matched nothing and answered 200: an operator read "none" where there were some. A long one is cut (echo).
 */
export function unknownDlqReason(reason: string | undefined): { error: 'bad_request'; message: string; field: 'reason' } | undefined {
  if (reason === undefined || (DEAD_LETTER_REASONS as readonly string[]).includes(reason)) return undefined;
  return { error: 'bad_request', message: `no dead-letter reason "${echo(reason)}" (reasons: ${DEAD_LETTER_REASONS.join(', ')})`, field: 'reason' };
}
