import type { Redis } from 'ioredis';

/** The id right after `id` (ms-seq): MINID keeps entries >= it. */
export function nextId(id: string): string {
  const [ms, seq] = id.split('-');
  return `${ms}-${BigInt(seq ?? '0') + 1n}`;
}

export function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bm, bs] = b.split('-').map(BigInt) as [bigint, bigint];
  return am === bm ? (as === bs ? 0 : as < bs ? -1 : 1) : am < bm ? -1 : 1;
}

type GroupInfo = Record<string, string | number>;

/**
 * The lowest id any group on the stream still needs: its oldest pending entry, or the entry after
 * the last one delivered to it. Everything below has been acked by every group. Undefined when
 * the stream has no group (nothing is known to be processed, so nothing may be trimmed).
 */
export async function safeTrimId(redis: Redis, stream: string): Promise<string | undefined> {
  const groups = (await redis.xinfo('GROUPS', stream)) as unknown[][];
  let safe: string | undefined;
  for (const raw of groups) {
    const g: GroupInfo = {};
    for (let i = 0; i + 1 < raw.length; i += 2) g[String(raw[i])] = raw[i + 1] as string | number;
    let need = nextId(String(g['last-delivered-id']));
    if (Number(g.pending) > 0) {
      const summary = (await redis.xpending(stream, String(g.name))) as [number, string | null, string | null, unknown];
      if (summary[1]) need = summary[1];
    }
    if (safe === undefined || compareIds(need, safe) < 0) safe = need;
  }
  return safe;
}

/** XTRIM MINID ~ the safe id. Returns how many entries were removed. */
export async function trimAcked(redis: Redis, stream: string): Promise<number> {
  const safe = await safeTrimId(redis, stream);
  if (!safe) return 0;
  return (await redis.xtrim(stream, 'MINID', '~', safe)) as number;
}
