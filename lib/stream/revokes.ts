import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';
import { compareStreamIds, parseStreamId } from './stream-id.js';

/**
 * Revoked ids as a worker knows them: the revokes stream of its shard (`{p}:revokes`, Keys.revokes,
 * written by lib/lua/revoke-4.lua) read into memory, at start from its beginning and then only
 * what is new, with the stage's paused flag (lib/worker/pause-gate.ts): no Redis call per batch,
 * one map lookup per record.
 */
export interface RevokeMarker {
  /** The input stream's last id when the id was revoked: versions up to it are revoked. */
  cutoff: string;
  /** Who revoked it (`cli:<user>`, `api:<token name>`). */
  by: string;
  reason?: string;
  /** The marker's own entry id (Redis time of the revoke). */
  entry: string;
}

/**
 * The cut-off rule: a version is revoked when its `origin` (the input entry id the first stage
 * stamps, lib/stream/forwarder.ts) is at or before the marker's cut-off, the input stream's last
 * id when the revoke was made: it was submitted before. Both ids were assigned by the same Redis
 * stream, in order, so no clock takes part. A version without an origin (written before origins
 * existed) can only be older: revoked. A rebuilt version (`pipeline reprocess`, a review decision)
 * carries the origin of the one it was built from, which says nothing of when it was made: it is
 * revoked when `rebuiltAt`, the entry id it re-entered the pipeline with, is at or before the
 * marker's own entry id, both assigned by the Redis server of the id's shard. Pure.
 */
export function isRevokedVersion(marker: Pick<RevokeMarker, 'cutoff' | 'entry'>, origin: string | undefined, rebuiltAt?: string): boolean {
  if (rebuiltAt !== undefined) return atOrBefore(rebuiltAt, marker.entry);
  if (origin === undefined) return true;
  return atOrBefore(origin, marker.cutoff);
}

/** `id` is at or before `limit` (stream ids); true when either is not an id: nothing says it came later. */
function atOrBefore(id: string, limit: string): boolean {
  const o = parseStreamId(id);
  const c = parseStreamId(limit);
  if (!o || !c) return true;
  return compareStreamIds(o, c) <= 0;
}

/** Entries read per XRANGE: a poll reads until it has them all. */
const READ_CHUNK = 1000;

type Entry = [id: string, fields: string[]];

export class RevokeList {
  private readonly markers = new Map<string, RevokeMarker>();
  /** The last entry read ("-": none yet, read from the beginning). */
  private last = '-';
  private examined = 0;

  constructor(
    private readonly keys: Keys,
    /** Markers are forgotten this long after their revoke (`limits.revokeTtlMs`), as Redis trims them. */
    private readonly ttlMs: number,
  ) {}

  /** How many ids are revoked now. */
  get size(): number {
    return this.markers.size;
  }

  /** Markers the last poll's expiry looked at: what it dropped plus one, not every marker held. */
  get examinedLastPoll(): number {
    return this.examined;
  }

  /** The marker that revokes this version of `key` (its envelope's origin and rebuiltAt), if any: one map lookup, then the cut-off rule. */
  match(key: string, origin: string | undefined, rebuiltAt?: string): RevokeMarker | undefined {
    if (this.markers.size === 0) return undefined;
    const m = this.markers.get(key);
    return m && isRevokedVersion(m, origin, rebuiltAt) ? m : undefined;
  }

  /** Read what was added since the last poll. */
  async poll(redis: Redis, now = Date.now()): Promise<void> {
    for (;;) {
      const start = this.last === '-' ? '-' : `(${this.last}`;
      const entries = (await redis.xrange(this.keys.revokes, start, '+', 'COUNT', READ_CHUNK)) as Entry[];
      for (const [id, fields] of entries) this.add(id, fields);
      if (entries.length > 0) this.last = entries.at(-1)![0];
      if (entries.length < READ_CHUNK) break;
    }
    this.forget(now);
  }

  private add(entry: string, fields: readonly string[]): void {
    const f: Record<string, string> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
    if (!f.k || !f.c) return; // not a marker this version writes
    // A later revoke of the same id replaces the earlier: its cut-off is later. Deleted first, so the
    // map keeps the markers in entry order (forget stops at the first one it keeps).
    this.markers.delete(f.k);
    this.markers.set(f.k, { cutoff: f.c, by: f.b ?? 'unknown', entry, ...(f.r ? { reason: f.r } : {}) });
  }

  /**
   * Drop markers past `ttlMs` (Redis trims them from the stream too): this process's clock only
   * decides when to forget one. Oldest first, up to the first one kept: a poll costs what it drops,
   * not every marker held.
   */
  private forget(now: number): void {
    this.examined = 0;
    for (const [k, m] of this.markers) {
      this.examined++;
      const at = Number(m.entry.split('-')[0]);
      if (at + this.ttlMs >= now) break;
      this.markers.delete(k);
    }
  }
}
