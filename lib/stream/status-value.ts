/**
 * An id's status (`{p}:status:<id>`): one JSON string set with its TTL (SET ... PX), written
 * `queued` by the API (lib/lua/submit-N.lua) and final by the completion writers (done.ts).
 * Fields: s status, q input entry id (queued), g stage, r reason, x error, b who (revoked), t time (ms).
 * Versions before it kept the same fields in a hash: readers fall back to HGETALL on WRONGTYPE,
 * so an upgrade does not turn in-flight ids into 404s.
 */
import type { Redis } from 'ioredis';
import { isWrongType } from '../core/redis-replies.js';

export interface StatusValue {
  s?: string;
  q?: string;
  g?: string;
  r?: string;
  x?: string;
  b?: string;
  t?: number | string;
}

export function encodeStatus(v: StatusValue): string {
  return JSON.stringify(v);
}

/** The status of `key`, `{}` when there is none (or it cannot be read as one). */
export async function readStatus(redis: Redis, key: string): Promise<StatusValue> {
  let raw: string | null;
  try {
    raw = await redis.get(key);
  } catch (err) {
    if (isWrongType(err)) return (await redis.hgetall(key)) as StatusValue;
    throw err;
  }
  return decodeStatus(raw);
}

/** A status as GET (or MGET) returns it, `{}` when there is none or it cannot be read as one (MGET gives null for a legacy hash too). */
export function decodeStatus(raw: string | null): StatusValue {
  if (raw === null) return {};
  try {
    const v = JSON.parse(raw) as unknown;
    return v !== null && typeof v === 'object' ? (v as StatusValue) : {};
  } catch {
    return {};
  }
}
