import type { Redis } from 'ioredis';
import { DecodeError, errorMessage } from '../core/errors.js';
import { pairs } from '../ops/inspect.js';
import type { Keys } from '../redis/keys.js';
import { decodeEnvelope, entryFields } from '../stream/codec.js';
import { deadLetterForward } from '../stream/deadletter.js';
import { toEntries } from '../stream/entries.js';
import { handOff } from '../stream/handoff.js';
import { ensureReviewGroup, REVIEW_GROUP, reviewView, type ReviewItem } from './review.js';

/** Most undecided entries after the group's last-delivered id counted for `total` when Redis cannot tell the lag. */
const LAG_COUNT_CAP = 10_000;

export interface ReviewPage {
  /** Up to `count` undecided items after `after`, oldest first. */
  items: ReviewItem[];
  /** Undecided items in all: the console group's pending entries plus those not delivered to it yet. */
  total: number;
  /** The id to ask the next (newer) page after, or null: this page is the last. */
  next: string | null;
}

export interface ReviewPageOptions {
  /** Only items with a greater entry id (the previous page's `next`). */
  after?: string;
  /** At most this many items. @defaultValue 50 */
  count?: number;
}

/**
 * One page of the review items the console has not decided yet, oldest first. An item must be in
 * the console group's pending list to be decided (the decision acks it), so the page is read from
 * that list (XPENDING from `after`), and only when the list holds fewer than `count` items after
 * `after` are that many entries not listed before delivered into it (XREADGROUP ... '>' without
 * BLOCK). Listing the same page again therefore delivers nothing new: the pending list grows only
 * as pages show new items (it had grown by `count` on every visit, and only the `count` oldest
 * were ever shown). An entry stays pending until a decision acks it.
 */
export async function reviewPage(redis: Redis, keys: Keys, o: ReviewPageOptions = {}, stream = 'review'): Promise<ReviewPage> {
  const count = o.count ?? 50;
  const key = keys.stream(stream);
  await ensureReviewGroup(redis, keys, stream);
  const start = o.after ? `(${o.after}` : '-';
  const listPending = async () => (await redis.xpending(key, REVIEW_GROUP, start, '+', count)) as [string, string, number, number][];
  let pending = await listPending();
  if (pending.length < count) {
    await redis.xreadgroup('GROUP', REVIEW_GROUP, REVIEW_GROUP, 'COUNT', count - pending.length, 'STREAMS', key, '>');
    pending = await listPending();
  }
  const items = await Promise.all(
    pending.map(async ([id, , , deliveries]) => {
      const reply = (await redis.xrangeBuffer(key, id, id)) as unknown as [Buffer, Buffer[] | null][];
      const [entry] = toEntries(reply);
      if (!entry) return undefined; // trimmed: nothing left to review
      try {
        const { payload } = entryFields(entry.fields);
        if (!payload) throw new DecodeError('no envelope field');
        return reviewView(id, decodeEnvelope(payload), Number(deliveries));
      } catch (err) {
        // One entry that does not decode had failed the whole list (500) until someone acked it by
        // hand: it goes to the DLQ as a stage's undecodable entry does, acked in the same step.
        const dl = deadLetterForward(entry, stream, stream, keys.dlq, { reason: 'undecodable', error: errorMessage(err), deliveries: Number(deliveries) });
        await handOff(redis, { stream: key, group: REVIEW_GROUP, fenceKey: keys.fence(REVIEW_GROUP) }, [dl]);
        return undefined;
      }
    }),
  );
  return {
    items: items.filter((i): i is ReviewItem => !!i),
    total: await undecidedCount(redis, key),
    next: pending.length === count ? pending.at(-1)![0] : null,
  };
}

/** The review items the console has not decided yet, oldest first: the first page of `reviewPage`. */
export async function listReview(redis: Redis, keys: Keys, count = 50, stream = 'review'): Promise<ReviewItem[]> {
  return (await reviewPage(redis, keys, { count }, stream)).items;
}

/** The console group's pending entries plus its lag (counted, up to LAG_COUNT_CAP, when Redis reports none). */
async function undecidedCount(redis: Redis, key: string): Promise<number> {
  const groups = (await redis.xinfo('GROUPS', key)) as unknown[][];
  const g = groups.map(pairs).find((m) => String(m.get('name')) === REVIEW_GROUP);
  if (!g) return 0;
  const pending = Number(g.get('pending') ?? 0);
  const lag = g.get('lag');
  if (lag !== null && lag !== undefined) return pending + Number(lag);
  const after = (await redis.xrange(key, `(${String(g.get('last-delivered-id'))}`, '+', 'COUNT', LAG_COUNT_CAP)) as unknown[];
  return pending + after.length;
}
