import type { Redis } from 'ioredis';

/** A raw stream entry as read with Buffer replies: id and flat field/value list. */
export interface RawEntry {
  id: string;
  fields: Buffer[];
}

type RawReply = [Buffer, Buffer[] | null][];

/** XREADGROUP / XRANGE / XAUTOCLAIM entry lists → RawEntry[]. Null field lists (deleted entries) are dropped. */
export function toEntries(reply: RawReply | null | undefined): RawEntry[] {
  if (!reply) return [];
  const out: RawEntry[] = [];
  for (const [id, fields] of reply) if (fields) out.push({ id: id.toString(), fields });
  return out;
}

/** XREADGROUP reply for one stream → entries. */
export function readGroupEntries(reply: unknown): RawEntry[] {
  if (!Array.isArray(reply) || reply.length === 0) return [];
  return toEntries((reply[0] as [Buffer, RawReply])[1]);
}

/** Which of `ids` are entries of `stream` now (one XRANGE each, sent together). */
export async function presentIds(redis: Redis, stream: string, ids: readonly string[]): Promise<Set<string>> {
  const replies = await Promise.all(ids.map((id) => redis.xrange(stream, id, id)));
  return new Set(ids.filter((_, i) => replies[i]!.length > 0));
}
