import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { compareIds } from '../stream/stream-id.js';
import { pairs } from '../ops/inspect.js';
import type { Keys } from '../redis/keys.js';
import { Script } from '../redis/script.js';
import { trustedLag } from '../stream/group-lag.js';
import { REVIEW_GROUP } from './review.js';
import { isNoSuchKey } from '../core/redis-replies.js';

const unlistedScript = new Script('review-unlisted-2');
const ackScript = new Script('review-ack-trimmed-2');

/** Ids per call of review-ack-trimmed-2.lua: one script runs a bounded time. */
const ACK_CHUNK = 500;

/** The console's record of trimmed review items (`unlisted`, `acknowledged`: counts since the pipeline began; `read`: the most entries-read of its group seen; `ack_call`, `ack_call_ids`: the last acknowledgement's token and what it acked). */
export const reviewTrimmedKey = (keys: Keys) => keys.extra('console:review-trimmed');

/** A review item pending in the console's group whose stream entry was trimmed: nothing left to review. */
export interface TrimmedItem {
  id: string;
  /** Times the console's group delivered it. */
  deliveries: number;
  /** Since its last delivery, ms. */
  idleMs: number;
}

/** How many review items there are, as an operator can act on them. */
export interface ReviewCounts {
  /** Items that can be reviewed: pending in the console's group with their entry still there, plus entries not delivered to it yet. */
  open: number;
  /** Items pending in the console's group whose entries were trimmed (ids before the stream's first entry): to acknowledge. */
  trimmed: number;
  /** False when `trimmed` stopped at the cap: there are at least that many. */
  complete: boolean;
  /** The oldest of them (at most `show`), oldest first. */
  items: TrimmedItem[];
  /** The newest trimmed item counted: what "acknowledge all" goes up to. */
  until: string | null;
  /** The stream's oldest entry (null: empty); pending items before it were trimmed. */
  first: string | null;
  /** Entries trimmed before the console's group was delivered them (never listed), counted as found, all time. */
  unlisted: number;
  /** Trimmed items acknowledged, all time. */
  acknowledged: number;
}

export interface ReviewCountOptions {
  /** Most trimmed items counted (XPENDING rows read), and most entries counted after the group's position when Redis' lag is not believed (the group's read counter is put right only when fewer). @defaultValue 10000 (console maxBulk) */
  cap?: number;
  /** Trimmed items listed in `items`. @defaultValue 0 */
  show?: number;
}

const missing =
  <T>(fallback: T) =>
  (err: unknown): T => {
    if (isNoSuchKey(err)) return fallback;
    throw err;
  };

/**
 * The review stream's items as an operator can act on them: those that can be reviewed (`open`)
 * and those pending in the console's group whose entries were trimmed (`trimmed`, to acknowledge).
 * Entries trimmed before the group was delivered them are counted once (review-unlisted-2.lua,
 * which also puts the group's read counter right: Redis' lag had stayed too high by them for good).
 * When the lag is not believed (lib/stream/group-lag.ts) the entries after the group's position are
 * counted by the same script, which sets the counter from them (a failed-back master's is short: a
 * trim past the group later had counted the items listed on the other master as unlisted).
 * Trimming removes the oldest entries, so the trimmed pending items are those before the first entry.
 */
export async function reviewCounts(redis: Redis, keys: Keys, stream = 'review', o: ReviewCountOptions = {}): Promise<ReviewCounts> {
  const cap = o.cap ?? 10_000;
  const key = keys.stream(stream);
  const record = reviewTrimmedKey(keys);
  const read = async () => {
    const [info, groups, rec] = await Promise.all([
      (redis.xinfo('STREAM', key) as Promise<unknown[]>).catch(missing(null)),
      (redis.xinfo('GROUPS', key) as Promise<unknown[][]>).catch(missing([] as unknown[][])),
      redis.hmget(record, 'unlisted', 'acknowledged', 'read'),
    ]);
    const s = pairs(info ?? []);
    const g = groups.map(pairs).find((m) => String(m.get('name')) === REVIEW_GROUP);
    const firstEntry = s.get('first-entry') as [string, unknown] | null | undefined;
    return {
      length: Number(s.get('length') ?? 0),
      added: Number(s.get('entries-added') ?? 0),
      first: firstEntry ? String(firstEntry[0]) : null,
      group: g && {
        pending: Number(g.get('pending') ?? 0),
        lastDelivered: String(g.get('last-delivered-id')),
        entriesRead: g.get('entries-read') === null || g.get('entries-read') === undefined ? null : Number(g.get('entries-read')),
        // Not believed when the stream cannot hold it (a failed-back master's counter: lib/stream/group-lag.ts): counted below.
        lag: trustedLag(g.get('lag'), {
          length: Number(s.get('length') ?? 0),
          pending: Number(g.get('pending') ?? 0),
          lastDeliveredId: String(g.get('last-delivered-id')),
          lastGeneratedId: String(s.get('last-generated-id') ?? '0-0'),
        }),
      },
      unlisted: Number(rec[0] ?? 0),
      acknowledged: Number(rec[1] ?? 0),
      /** The most entries-read the console saw (the record is replicated, the group's counter is not). */
      readSeen: rec[2] === null || rec[2] === undefined ? null : Number(rec[2]),
    };
  };
  let r = await read();
  const past = (g: NonNullable<typeof r.group>) => r.first === null || compareIds(r.first, g.lastDelivered) > 0;
  // Trimmed past the group's position, with entries it never saw among them: count those once.
  if (r.group && past(r.group) && r.group.entriesRead !== null && r.added - r.group.entriesRead - r.length > 0) {
    await unlistedScript.run(redis, [key, record], [REVIEW_GROUP]);
    r = await read();
  }
  const base = { first: r.first, unlisted: r.unlisted, acknowledged: r.acknowledged };
  const g = r.group;
  if (!g) return { ...base, open: r.length, trimmed: 0, complete: true, items: [], until: null };
  const rows = await trimmedRows(redis, key, g.pending, r.first, cap);
  let undelivered: number;
  if (r.first === null) undelivered = 0;
  else if (past(g)) undelivered = r.length;
  else if (g.lag !== null && !(g.entriesRead !== null && r.readSeen !== null && g.entriesRead < r.readSeen)) undelivered = g.lag;
  // The lag not believed, or the counter below one the console saw (a master failed over and back:
  // its lag is believable when the stream keeps decided items): counted, and the group's read
  // counter put right while its position is in the stream (a trim past it later counts from it).
  else undelivered = await unlistedScript.run<number>(redis, [key, record], [REVIEW_GROUP, cap]);
  if (g.entriesRead !== null && (r.readSeen === null || g.entriesRead > r.readSeen)) await redis.hset(record, 'read', g.entriesRead);
  return {
    ...base,
    open: Math.max(0, g.pending - rows.length) + undelivered,
    trimmed: rows.length,
    complete: rows.length < cap,
    items: rows.slice(0, o.show ?? 0),
    until: rows.at(-1)?.id ?? null,
  };
}

/** The pending items before the stream's first entry (all of them when it is empty), at most `cap`. */
async function trimmedRows(redis: Redis, key: string, pending: number, first: string | null, cap: number): Promise<TrimmedItem[]> {
  if (pending === 0) return [];
  if (first !== null) {
    const [, min] = (await redis.xpending(key, REVIEW_GROUP)) as [number, string | null];
    if (min === null || compareIds(min, first) >= 0) return [];
  }
  const rows = (await redis.xpending(key, REVIEW_GROUP, '-', first === null ? '+' : `(${first}`, cap)) as [string, string, number, number][];
  return rows.map(([id, , idle, deliveries]) => ({ id, deliveries: Number(deliveries), idleMs: Number(idle) }));
}

/**
 * Acknowledge trimmed review items: `ids`, or every trimmed one up to `until` (at most `max`).
 * Only items whose entries are gone are acked (review-ack-trimmed-2.lua checks each), and each
 * acked one is counted in `{p}:console:review-trimmed`. An acked item the console had listed also
 * leaves its product's open-items hash (`{p}:console:review-open:<key>`, found through
 * `{p}:console:review-listed`: the entry, and so the key, is gone): it had stayed there with no TTL,
 * one hash per such product for good. Returns the ids acked.
 */
export async function ackTrimmed(redis: Redis, keys: Keys, sel: { ids?: string[]; until?: string }, max: number, stream = 'review'): Promise<string[]> {
  let ids = sel.ids;
  if (!ids) {
    const c = await reviewCounts(redis, keys, stream, { cap: max, show: max });
    ids = c.items.map((i) => i.id).filter((id) => sel.until === undefined || compareIds(id, sel.until) <= 0);
  }
  const acked: string[] = [];
  for (let i = 0; i < ids.length; i += ACK_CHUNK) {
    // A token per call: the client's re-send of a call whose reply was lost with the connection is answered with what the first acked.
    const done = await ackScript.run<string[]>(
      redis,
      [keys.stream(stream), reviewTrimmedKey(keys)],
      [REVIEW_GROUP, randomUUID(), ...ids.slice(i, i + ACK_CHUNK)],
    );
    await forgetListed(redis, keys, done);
    acked.push(...done);
  }
  return acked;
}

/**
 * Remove acked items from their products' open-items hashes and from the listed items' index.
 * After the ack, not in its script: an item whose entry is gone can be neither listed nor decided
 * again, so nothing writes its fields back in between (a failure here leaves them as before).
 */
async function forgetListed(redis: Redis, keys: Keys, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  const owners = await redis.hmget(keys.reviewListed, ...ids);
  const tx = redis.pipeline();
  ids.forEach((id, i) => {
    const owner = owners[i];
    if (owner) tx.hdel(keys.reviewOpen(owner), id);
  });
  tx.hdel(keys.reviewListed, ...ids);
  for (const [err] of (await tx.exec()) ?? []) if (err) throw err;
}
