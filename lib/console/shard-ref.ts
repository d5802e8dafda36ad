import { compareIds } from '../stream/stream-id.js';
import { echo } from '../api/echo.js';
import { BadEntryId } from '../api/errors.js';
import type { Keys } from '../redis/keys.js';
import type { Shards } from '../redis/shard.js';

/**
 * Entries named across shards. A sharded pipeline (config `shards` > 1) has one DLQ and one review
 * stream per shard, and two shards' streams can hold the same entry id: the console names an
 * entry `<shard>/<ms>-<seq>` there (`2/1712345678901-0`, as `pipeline dlq list` prints dead
 * letters), and by its id alone in an unsharded pipeline. Every DLQ entry and review item the
 * console lists carries its `shard` (sharded only), and every action on one names it.
 */

/** A JSON-schema pattern for an entry reference: an id, or `<shard>/<id>`. */
export const REF_PATTERN = '^(\\d+/)?\\d+-\\d+$';

/** `{ shard: i }` in a sharded pipeline, `{}` in an unsharded one: what a listed entry carries. */
export const shardField = (shards: Shards, i: number): { shard?: number } => (shards.count > 1 ? { shard: i } : {});

/** The reference of entry `id` of shard `i`: `<i>/<id>` when sharded, `id` when not. */
export const refOf = (shards: Shards, i: number, id: string): string => (shards.count > 1 ? `${i}/${id}` : id);

/** A stream id's parts (ms, sequence) are below this: Redis refuses a larger one with its own text (naming its script, not the field). */
const ID_PART_LIMIT = 2n ** 64n;

/** A part of 2^64 or more, its length checked first: a 10 MB part read as a BigInt holds the event loop for seconds. */
function pastLimit(digits: string): boolean {
  const d = digits.replace(/^0+/, '');
  return d.length > 20 || BigInt(d || '0') >= ID_PART_LIMIT;
}

/**
 * The shard and id a reference names. Throws BadEntryId (answered 400 naming `field`, the request's
 * field that held it) for a bare id in a sharded pipeline (ambiguous), a `<shard>/` in an unsharded
 * one, a shard the pipeline does not have, or an id part of 2^64 or more.
 * `shard` (a query parameter) names the shard of a bare id instead.
 */
export function parseRef(shards: Shards, ref: string, shard?: number, field = 'id'): { shard: number; keys: Keys; id: string } {
  const m = /^(?:(\d+)\/)?(\d+)-(\d+)$/.exec(ref);
  if (!m) throw new BadEntryId(`entry ${JSON.stringify(ref)}: expected <ms>-<seq>${shards.count > 1 ? ' or <shard>/<ms>-<seq>' : ''}`, field);
  if (pastLimit(m[2]!) || pastLimit(m[3]!)) throw new BadEntryId(`${field} ${JSON.stringify(echo(ref))}: each part of a stream id is below 2^64`, field);
  const id = `${m[2]}-${m[3]}`;
  const named = m[1] === undefined ? shard : Number(m[1]);
  if (shards.count === 1) {
    if (named !== undefined && named !== 0) throw new BadEntryId(`entry ${ref}: the pipeline is not sharded, name entries by their id alone`, field);
    return { shard: 0, keys: shards.all[0]!, id };
  }
  if (named === undefined)
    throw new BadEntryId(`entry ${ref}: the pipeline has ${shards.count} shards, name the entry's shard (<shard>/<id>, or ?shard=)`, field);
  const keys = shards.all[named];
  if (!keys) throw new BadEntryId(`entry ${ref}: no shard ${named} (the pipeline has ${shards.count})`, field);
  return { shard: named, keys, id };
}

/** References grouped by shard, in the order given within each (every one checked as parseRef does; `field` names them). */
export function byShard(shards: Shards, refs: readonly string[], field = 'ids'): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const r of refs) {
    const { shard, id } = parseRef(shards, r, undefined, field);
    const list = out.get(shard) ?? [];
    list.push(id);
    out.set(shard, list);
  }
  return out;
}

/** An entry's place in the console's merged order over the shards: by id, then by shard (two shards' streams can hold the same id). */
export interface Place {
  shard: number;
  id: string;
}

/** The merged order: by entry id, then shard. */
export const comparePlaces = (a: Place, b: Place): number => compareIds(a.id, b.id) || a.shard - b.shard;

/** The id just before `id` on one stream (`5-0` → `4-18446744073709551615`); `0-0` stays. */
export function prevId(id: string): string {
  const [ms, seq] = id.split('-').map((x) => BigInt(x)) as [bigint, bigint];
  if (seq > 0n) return `${ms}-${seq - 1n}`;
  return ms > 0n ? `${ms - 1n}-18446744073709551615` : '0-0';
}

/**
 * On shard `shard`, the newest id at or before `place` in the merged order: `place.id` on its own
 * shard and those before it, the id just before it on the shards after it. A cursor (`after`,
 * exclusive) and a bound (`until`, inclusive) given as a place both become this id on each shard.
 */
export const boundOn = (shard: number, place: Place): string => (shard <= place.shard ? place.id : prevId(place.id));
