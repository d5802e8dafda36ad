import type { Redis } from 'ioredis';
import { isGroupExists, isNoSuchKey } from '../core/redis-replies.js';
import { duringDrops } from '../redis/connection-drops.js';

/** True when `group` is listed by XINFO GROUPS of `stream` (a read Redis answers even when full); false when the stream does not exist. */
export async function groupExists(redis: Redis, stream: string, group: string): Promise<boolean> {
  try {
    const groups = (await redis.xinfo('GROUPS', stream)) as unknown[][];
    return groups.some((g) => {
      const i = g.indexOf('name');
      return i >= 0 && String(g[i + 1]) === group;
    });
  } catch (err) {
    if (isNoSuchKey(err)) return false;
    throw err;
  }
}

/**
 * XGROUP CREATE ... MKSTREAM from the start of the stream (entries added before the group are
 * read too); true when it was created, false when it existed already. An existing group is seen
 * with XINFO GROUPS first: Redis refuses XGROUP CREATE with OOM when it is full, even for a group
 * that exists (BUSYGROUP is only checked after the memory check), so a worker starting while Redis
 * is full joins its group without a write. A BUSYGROUP after the connection dropped during the call
 * counts as created: ioredis sent the call again by itself, and the re-send found the group the
 * first call made (it was missing just before).
 */
export async function createGroup(redis: Redis, stream: string, group: string): Promise<boolean> {
  if (await groupExists(redis, stream, group)) return false;
  const { value: created, dropped } = await duringDrops(redis, () =>
    redis.xgroup('CREATE', stream, group, '0', 'MKSTREAM').then(
      () => true,
      (err: unknown) => {
        if (!isGroupExists(err)) throw err;
        return false;
      },
    ),
  );
  return created || dropped;
}
