import type { Redis } from 'ioredis';
import type { Shards } from '../redis/shard.js';
import { reviewPage, type ReviewPage, type ReviewPageOptions } from './review-list.js';
import type { ClosedItem, ReviewItem } from './review.js';
import type { TrimmedItem } from './review-trimmed.js';
import { boundOn, comparePlaces, parseRef, refOf, shardField, type Place } from './shard-ref.js';

/** With its shard (sharded pipelines only). */
type Sharded<T> = T & { shard?: number };

/** A page of the review queue over every shard: its items, closed, trimmed and gone ones name their shard. */
export interface MergedReviewPage extends Omit<ReviewPage, 'items' | 'closed' | 'gone' | 'trimmed'> {
  items: Sharded<ReviewItem>[];
  closed: Sharded<ClosedItem>[];
  gone: Sharded<TrimmedItem>[];
  trimmed: Omit<ReviewPage['trimmed'], 'items'> & { items: Sharded<TrimmedItem>[] };
}

/**
 * One page of undecided review items over every shard's review stream (`{p:N}:review`), oldest
 * first in one order (entry id, then shard: lib/console/shard-ref.ts), after `after` (the reference
 * of the previous page's last item, `next`). Each shard lists its own page after the cursor
 * (reviewPage: XPENDING, delivering into the console's group only what its pages reach); the
 * merged page holds the `count` first of them up to where every full shard page reached, so the
 * next page, after `next`, skips no item of any shard. Counts (total, before, trimmed) are summed.
 * Unsharded, the shard's own page as reviewPage gives it.
 */
export async function reviewPages(redis: Redis, shards: Shards, o: ReviewPageOptions = {}): Promise<MergedReviewPage> {
  const cursor = o.after ? parseRef(shards, o.after, undefined, 'after') : undefined;
  if (shards.count === 1) return reviewPage(redis, shards.all[0]!, { ...o, after: cursor?.id });
  const count = o.count ?? 50;
  const pages = await Promise.all(shards.all.map((keys, i) => reviewPage(redis, keys, { ...o, count, after: cursor && boundOn(i, cursor) })));
  // A shard whose page was full has items past its `next`: the merged page stops at the first such place.
  let reached: Place | undefined;
  pages.forEach((p, shard) => {
    const at = p.next === null ? undefined : { shard, id: p.next };
    if (at && (!reached || comparePlaces(at, reached) < 0)) reached = at;
  });
  const merged = pages
    .flatMap((p, shard) => p.items.map((item) => ({ item, shard, id: item.id })))
    .filter((x) => !reached || comparePlaces(x, reached) <= 0)
    .sort(comparePlaces);
  const shown = merged.slice(0, count);
  const last: Place | undefined = merged.length > count ? shown.at(-1) : reached;
  const tag =
    <T>(shard: number) =>
    (x: T): Sharded<T> => ({ ...x, ...shardField(shards, shard) });
  const byPlace = <T extends { id: string; shard?: number }>(a: T, b: T) => comparePlaces({ id: a.id, shard: a.shard ?? 0 }, { id: b.id, shard: b.shard ?? 0 });
  const until = pages
    .map((p, shard) => (p.trimmed.until === null ? undefined : { shard, id: p.trimmed.until }))
    .reduce<Place | undefined>((a, p) => (p && (!a || comparePlaces(p, a) > 0) ? p : a), undefined);
  const sum = (f: (p: ReviewPage) => number) => pages.reduce((n, p) => n + f(p), 0);
  return {
    items: shown.map(({ item, shard }) => tag<ReviewItem>(shard)(item)),
    closed: pages.flatMap((p, shard) => p.closed.map(tag<ClosedItem>(shard))),
    total: sum((p) => p.total),
    before: { count: sum((p) => p.before.count), complete: pages.every((p) => p.before.complete) },
    next: last ? refOf(shards, last.shard, last.id) : null,
    trimmed: {
      count: sum((p) => p.trimmed.count),
      complete: pages.every((p) => p.trimmed.complete),
      items: pages
        .flatMap((p, shard) => p.trimmed.items.map(tag<TrimmedItem>(shard)))
        .sort(byPlace)
        .slice(0, count),
      until: until ? refOf(shards, until.shard, until.id) : null,
      unlisted: sum((p) => p.trimmed.unlisted),
      acknowledged: sum((p) => p.trimmed.acknowledged),
    },
    gone: pages.flatMap((p, shard) => p.gone.map(tag<TrimmedItem>(shard))).sort(byPlace),
  };
}
