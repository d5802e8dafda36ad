import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { DecodeError, errorMessage } from '../core/errors.js';
import { compareIds } from '../stream/stream-id.js';
import { pairs } from '../core/reply-pairs.js';
import type { Keys } from '../redis/keys.js';
import { decodeEnvelope, entryFields } from '../stream/codec.js';
import { deadLetterForward } from '../stream/deadletter.js';
import { toEntries } from '../stream/entries.js';
import { handOff } from '../stream/handoff.js';
import { Script } from '../redis/script.js';
import { ensureReviewGroup, REVIEW_GROUP, reviewView, type ClosedItem, type ReviewItem } from './review.js';
import { reviewCounts, type ReviewCounts, type TrimmedItem } from './review-trimmed.js';

const listedScript = new Script('review-listed-N');

export interface ReviewPage {
  /** Up to `count` undecided items after `after`, oldest first. */
  items: ReviewItem[];
  /** Undecided items that can be reviewed: the console group's pending entries still in the stream plus those not delivered to it yet. */
  total: number;
  /**
   * Undecided items before this page (pending in the console's group from the stream's first entry
   * up to `after`), counted when the page is read: its first item is number `count + 1` of `total`.
   * `complete` is false when the count stopped at `cap` (there are at least that many).
   */
  before: { count: number; complete: boolean };
  /** The id to ask the next (newer) page after, or null: no undecided item after this page (when it was read). */
  next: string | null;
  /** Items pending in the console's group whose entries were trimmed (not in `total`), the oldest `count` listed, and the record of such items. */
  trimmed: { count: number } & Pick<ReviewCounts, 'complete' | 'items' | 'until' | 'unlisted' | 'acknowledged'>;
  /** Pending items of this page whose entries were deleted from the middle of the stream (XDEL): listed, to acknowledge as trimmed ones are. */
  gone: TrimmedItem[];
  /** Items this listing closed instead of showing: their product was decided (through another item) since the record they show. */
  closed: ClosedItem[];
}

export interface ReviewPageOptions {
  /** Only items with a greater entry id (the previous page's `next`). */
  after?: string;
  /** At most this many items. @defaultValue 50 */
  count?: number;
  /** Most trimmed items counted, most entries counted after the group's position when Redis' lag is not believed, and most undecided items counted before the page. @defaultValue 10000 (console maxBulk) */
  cap?: number;
}

/**
 * One page of the review items the console has not decided yet, oldest first. An item must be in
 * the console group's pending list to be decided (the decision acks it), so the page is read from
 * that list (XPENDING from `after`), and only when the list holds fewer than `count` items after
 * `after` are that many entries not listed before delivered into it (XREADGROUP ... '>' without
 * BLOCK). Listing the same page again therefore delivers nothing new: the pending list grows only
 * as pages show new items (it had grown by `count` on every visit, and only the `count` oldest
 * were ever shown). An entry stays pending until a decision acks it.
 * Pending items whose entries were trimmed (before the stream's first entry) are not pages' items
 * nor in `total`: they are counted and listed apart (`trimmed`, lib/console/review-trimmed.ts).
 * Items of a product decided since the record they show are closed (acked) instead of listed, and
 * the others recorded as the product's open items, which its next decision closes
 * (review-listed-N.lua, in one step with decisions): a page never shows work already done.
 */
export async function reviewPage(redis: Redis, keys: Keys, o: ReviewPageOptions = {}, stream = 'review'): Promise<ReviewPage> {
  const count = o.count ?? 50;
  const key = keys.stream(stream);
  await ensureReviewGroup(redis, keys, stream);
  const countNow = () => reviewCounts(redis, keys, stream, { cap: o.cap, show: count });
  let counts = await countNow();
  const first = counts.first;
  // The trimmed items lie before the first entry: a page starts there at the earliest.
  const start = first === null ? null : o.after && compareIds(o.after, first) >= 0 ? `(${o.after}` : first;
  const listPending = async () => (start === null ? [] : ((await redis.xpending(key, REVIEW_GROUP, start, '+', count)) as [string, string, number, number][]));
  let pending = await listPending();
  if (pending.length < count && start !== null) {
    const read = await redis.xreadgroup('GROUP', REVIEW_GROUP, REVIEW_GROUP, 'COUNT', count - pending.length, 'STREAMS', key, '>');
    pending = await listPending();
    if (read) counts = await countNow();
  }
  const gone: TrimmedItem[] = [];
  const items = await Promise.all(
    pending.map(async ([id, , idle, deliveries]) => {
      const reply = (await redis.xrangeBuffer(key, id, id)) as unknown as [Buffer, Buffer[] | null][];
      const [entry] = toEntries(reply);
      if (!entry) {
        gone.push({ id, deliveries: Number(deliveries), idleMs: Number(idle) }); // deleted after it was listed: said, not hidden
        return undefined;
      }
      try {
        const { payload } = entryFields(entry.fields);
        if (!payload) throw new DecodeError('no envelope field');
        const env = decodeEnvelope(payload);
        return { item: reviewView(id, env, Number(deliveries)), origin: env.origin ?? '' };
      } catch (err) {
        // One entry that does not decode had failed the whole list (500) until someone acked it by
        // hand: it goes to the DLQ as a stage's undecodable entry does, acked in the same step.
        const dl = deadLetterForward(entry, stream, stream, keys.dlq, { reason: 'undecodable', error: errorMessage(err), deliveries: Number(deliveries) });
        await handOff(redis, { stream: key, group: REVIEW_GROUP, fenceKey: keys.fence(REVIEW_GROUP) }, [dl]);
        return undefined;
      }
    }),
  );
  const shown = items.filter((i): i is { item: ReviewItem; origin: string } => !!i);
  const { listed, closed } = await recordListed(redis, keys, key, shown);
  if (listed.length < shown.length) counts = await countNow();
  const { open, trimmed: n, complete, items: oldest, until, unlisted, acknowledged } = counts;
  return {
    items: listed,
    closed,
    total: open,
    before: await countBefore(redis, key, counts.first, o.after, o.cap ?? 10_000),
    next: pending.length === count && (await undecidedAfter(redis, key, pending.at(-1)![0])) ? pending.at(-1)![0] : null,
    trimmed: { count: n, complete, items: oldest, until, unlisted, acknowledged },
    gone: gone.sort((a, b) => compareIds(a.id, b.id)),
  };
}

/**
 * Whether an undecided item comes after `last` (a full page's last entry): one pending in the
 * console's group, or one not delivered to it yet (after the group's last-delivered id). Asked, not
 * delivered: the pending list still grows only by what pages show. (A page of exactly `count` had
 * offered a next page, and it was empty.)
 */
async function undecidedAfter(redis: Redis, key: string, last: string): Promise<boolean> {
  const [pendingAfter, groups] = await Promise.all([
    redis.xpending(key, REVIEW_GROUP, `(${last}`, '+', 1) as Promise<unknown[]>,
    redis.xinfo('GROUPS', key) as Promise<unknown[][]>,
  ]);
  if (pendingAfter.length) return true;
  const delivered = String(
    groups
      .map(pairs)
      .find((g) => g.get('name') === REVIEW_GROUP)
      ?.get('last-delivered-id') ?? '0-0',
  );
  const from = compareIds(delivered, last) > 0 ? delivered : last;
  return (await redis.xrange(key, `(${from}`, '+', 'COUNT', 1)).length > 0;
}

/**
 * The undecided items before a page that starts after `after`: the group's pending entries from the
 * stream's first one (those before it were trimmed, not counted as undecided) up to `after`, at most
 * `cap`. Entries are delivered in order as pages reach them, so none before `after` is undelivered.
 * (The console had numbered a page by the pages clicked through: *Items 51–100* after others had
 * decided items before it, and *51–60 of 57*.)
 */
async function countBefore(redis: Redis, key: string, first: string | null, after: string | undefined, cap: number): Promise<ReviewPage['before']> {
  if (!after || first === null || compareIds(after, first) < 0) return { count: 0, complete: true };
  const rows = (await redis.xpending(key, REVIEW_GROUP, first, after, cap)) as unknown[];
  return { count: rows.length, complete: rows.length < cap };
}

/** Run review-listed-N.lua on a page's items: those still open, and those closed as superseded. */
async function recordListed(
  redis: Redis,
  keys: Keys,
  key: string,
  shown: { item: ReviewItem; origin: string }[],
): Promise<{ listed: ReviewItem[]; closed: ClosedItem[] }> {
  if (shown.length === 0) return { listed: [], closed: [] };
  const replies = await listedScript.run<(number | string[])[]>(
    redis,
    [key, keys.reviewListed, keys.reviewListedCall, ...shown.flatMap(({ item }) => [keys.reviewed(item.key), keys.reviewOpen(item.key)])],
    // The call's token: the client's own re-send of it (its reply lost with the connection) names the items the first call closed.
    [REVIEW_GROUP, randomUUID(), ...shown.flatMap(({ item, origin }) => [item.id, origin, item.key])],
  );
  const listed: ReviewItem[] = [];
  const closed: ClosedItem[] = [];
  shown.forEach(({ item }, i) => {
    const r = replies[i];
    if (r === 1) listed.push(item);
    else if (Array.isArray(r)) {
      const [version, entry, by, at] = r.map(String) as [string, string, string, string];
      closed.push({ id: item.id, key: item.key, version, decision: { by, entry, at: Number(at) } });
    }
  });
  return { listed, closed };
}

/** The review items the console has not decided yet, oldest first: the first page of `reviewPage`. */
export async function listReview(redis: Redis, keys: Keys, count = 50, stream = 'review'): Promise<ReviewItem[]> {
  return (await reviewPage(redis, keys, { count }, stream)).items;
}
