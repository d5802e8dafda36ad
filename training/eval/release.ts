import type { Redis } from 'ioredis';
import type { Keys } from '../../lib/redis/keys.js';
import { Shards } from '../../lib/redis/shard.js';

/** Product hashes read per round trip (HGET category) and keys deleted per UNLINK / SREM. */
const PAGE = 500;

/** The stream id just after `id` ("ms-seq"): XTRIM MINID of it removes `id` and every entry before it. */
export function nextStreamId(id: string): string {
  const [ms, seq] = id.split('-');
  return `${ms}-${BigInt(seq ?? '0') + 1n}`;
}

/**
 * Delete what a scored chunk of `pipeline eval` left in its own pipeline's keys: each record's
 * product hash and status, its key in the products set and in its category's set, the review and
 * DLQ entries read when collecting (`readTo`: stream key → last entry id read; XTRIM MINID, so an
 * entry added since is kept), and the producer's run state of the chunk (`producerKeys`). The
 * match stage's vectors are deleted beside this, all of the run's at once (scripts/commands/eval-run.ts). Returns the keys deleted and
 * the entries trimmed. Keys of one shard go in one pipeline (one hash tag: one slot on a Cluster).
 */
export async function releaseChunk(
  redis: Redis,
  keys: Keys | Shards,
  ids: readonly string[],
  readTo: ReadonlyMap<string, string>,
  producerKeys: readonly string[] = [],
): Promise<{ keys: number; entries: number }> {
  const shards = Shards.of(keys);
  const byShard = new Map<Keys, string[]>();
  for (const id of ids) {
    const k = shards.keysFor(id);
    const list = byShard.get(k);
    if (list) list.push(id);
    else byShard.set(k, [id]);
  }
  let deleted = 0;
  for (const [k, all] of byShard) {
    for (let i = 0; i < all.length; i += PAGE) {
      const page = all.slice(i, i + PAGE);
      const cats = await Promise.all(page.map((id) => redis.hget(k.product(id), 'category')));
      const byCategory = new Map<string, string[]>();
      page.forEach((id, j) => {
        const c = cats[j];
        if (c) byCategory.set(c, [...(byCategory.get(c) ?? []), id]);
      });
      const p = redis.pipeline();
      p.srem(k.products, ...page);
      for (const [c, members] of byCategory) p.srem(k.category(c), ...members);
      p.unlink(...page.flatMap((id) => [k.product(id), k.status(id)]));
      const res = (await p.exec()) ?? [];
      for (const [err] of res) if (err) throw err;
      deleted += Number(res[res.length - 1]?.[1] ?? 0);
    }
  }
  let entries = 0;
  for (const [stream, last] of readTo) entries += Number(await redis.xtrim(stream, 'MINID', nextStreamId(last)));
  for (const key of producerKeys) deleted += await redis.unlink(key);
  return { keys: deleted, entries };
}
