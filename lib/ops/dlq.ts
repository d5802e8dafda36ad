import type { Redis } from 'ioredis';
import { decodeEnvelope, FIELD_ENVELOPE, FIELD_KEY, type Envelope } from '../stream/codec.js';
import type { ResolvedConfig } from '../config/types.js';
import { BadIdError, errorMessage } from '../core/errors.js';
import { duringDrops } from '../redis/connection-drops.js';
import { presentIds } from '../stream/entries.js';
import { Keys } from '../redis/keys.js';
import { Script } from '../redis/script.js';
import { Backpressure, type Pressure } from '../producer/backpressure.js';

const replayScript = new Script('dlq-replay-2');
const purgeScript = new Script('dlq-purge-1');

/** One entry of the dead-letter stream `{p}:dlq` (written by deadletter.ts), decoded. */
export interface DeadLetterEntry {
  /** Id of the entry in the DLQ. */
  id: string;
  /** The record key (`k`), when the original entry had one. */
  key?: string;
  /** Stage (group) that gave up on it, and the stream it was read from (name without the prefix). */
  stage: string;
  stream: string;
  /** Its id on that stream. */
  originalId: string;
  reason: string;
  /** The last error. */
  error: string;
  deliveries: number;
  /** When it was dead-lettered (ms since epoch). */
  at: number;
  /** The original envelope bytes (`e`), byte for byte. */
  payload?: Buffer;
}

/** Which entries a replay or purge acts on: the given ids, or all (the oldest `count` when given). */
export interface Selection {
  ids?: string[];
  all?: boolean;
  /** With `all`: at most this many, oldest first. */
  count?: number;
  /** With `all`: only dead letters with this reason (`purged`: what `pipeline purge` took out). */
  reason?: string;
}

export interface ReplayResult {
  /** `newId`: the entry on the stage stream; absent when the reply was lost with the connection and the client's re-send found the entry replayed. */
  replayed: { id: string; stream: string; newId?: string }[];
  /** Not replayed, with why (gone already, unknown stream, nothing to replay). */
  skipped: { id: string; why: string }[];
}

function parse(id: string, fields: Buffer[]): DeadLetterEntry {
  const m = new Map<string, Buffer>();
  for (let i = 0; i + 1 < fields.length; i += 2) m.set(fields[i]!.toString(), fields[i + 1]!);
  const s = (f: string) => m.get(f)?.toString() ?? '';
  return {
    id,
    key: m.get(FIELD_KEY)?.toString(),
    stage: s('stage'),
    stream: s('stream'),
    originalId: s('id'),
    reason: s('reason'),
    error: s('error'),
    deliveries: Number(s('deliveries') || 0),
    at: Number(s('at') || 0),
    payload: m.get(FIELD_ENVELOPE),
  };
}

/** The envelope of a dead letter, or why it does not decode. */
export function decodeDeadLetter(entry: DeadLetterEntry): { envelope?: Envelope; error?: string } {
  if (!entry.payload) return { error: `no '${FIELD_ENVELOPE}' field` };
  try {
    return { envelope: decodeEnvelope(entry.payload) };
  } catch (err) {
    return { error: errorMessage(err) };
  }
}

export interface ListOptions {
  /** At most this many. @defaultValue 100 */
  count?: number;
  /** Only ids after this one (paging). @defaultValue from the start */
  after?: string;
  /** Only ids up to this one, inclusive: a bulk action bounded to what its caller saw. @defaultValue to the end */
  until?: string;
  /** Only entries with this reason / from this stage / of this record key. */
  reason?: string;
  stage?: string;
  key?: string;
}

/** Dead letters, oldest first. */
export async function listDeadLetters(redis: Redis, keys: Keys, o: ListOptions = {}): Promise<DeadLetterEntry[]> {
  return (await scanDeadLetters(redis, keys, o)).entries;
}

/** What a scan of the DLQ found, how many entries it read, and the last id it read (where to go on from). */
export interface DeadLetterScan {
  entries: DeadLetterEntry[];
  scanned: number;
  /** The scan reached the end of the range (false: `scanLimit` stopped it first). */
  complete: boolean;
  /** The last id read ('' when none): `after` for the next scan. */
  scannedTo: string;
}

/**
 * `listDeadLetters` that reads at most `scanLimit` entries: a filter that matches nothing had read
 * the whole DLQ on every call (200,000 entries: seconds per call, and other requests slowed).
 */
export async function scanDeadLetters(redis: Redis, keys: Keys, o: ListOptions & { scanLimit?: number; newestFirst?: boolean } = {}): Promise<DeadLetterScan> {
  const want = o.count ?? 100;
  const limit = o.scanLimit ?? Infinity;
  const out: DeadLetterScan = { entries: [], scanned: 0, complete: false, scannedTo: '' };
  if (o.newestFirst && (o.after !== undefined || o.until !== undefined)) throw new Error('newestFirst takes no after/until');
  let start = o.after ? `(${o.after}` : '-';
  if (o.until !== undefined) checkEntryId(o.until);
  let end = o.until ?? '+';
  for (;;) {
    const ask = Math.min(500, limit - out.scanned);
    const page = o.newestFirst ? await redis.xrevrangeBuffer(keys.dlq, end, '-', 'COUNT', ask) : await redis.xrangeBuffer(keys.dlq, start, end, 'COUNT', ask);
    for (const [id, fields] of page) {
      out.scanned++;
      out.scannedTo = id.toString();
      const e = parse(out.scannedTo, fields);
      if ((o.reason && e.reason !== o.reason) || (o.stage && e.stage !== o.stage) || (o.key !== undefined && e.key !== o.key)) continue;
      out.entries.push(e);
      if (out.entries.length >= want) return out;
    }
    if (page.length < ask) return { ...out, complete: true };
    if (out.scanned >= limit) return out;
    if (o.newestFirst) end = `(${out.scannedTo}`;
    else start = `(${out.scannedTo}`;
  }
}

/** Dead letters by stage and reason, with the newest id of each group. */
export interface DeadLetterGroup {
  stage: string;
  reason: string;
  count: number;
  newest: string;
}

/**
 * Count the oldest `max` dead letters by stage and reason, a page at a time: only the counts are
 * kept (the console's summary had held all 10,000 entries, envelopes included, per call).
 */
export async function tallyDeadLetters(redis: Redis, keys: Keys, max: number): Promise<{ groups: DeadLetterGroup[]; counted: number }> {
  const groups = new Map<string, DeadLetterGroup>();
  let counted = 0;
  for (let start = '-'; counted < max;) {
    const ask = Math.min(200, max - counted);
    const page = await redis.xrangeBuffer(keys.dlq, start, '+', 'COUNT', ask);
    for (const [idBytes, fields] of page) {
      const id = idBytes.toString();
      let stage = '?';
      let reason = '?';
      for (let i = 0; i + 1 < fields.length; i += 2) {
        const name = fields[i]!.toString();
        if (name === 'stage') stage = fields[i + 1]!.toString();
        else if (name === 'reason') reason = fields[i + 1]!.toString();
      }
      const k = `${stage}\u0000${reason}`;
      const g = groups.get(k) ?? { stage, reason, count: 0, newest: id };
      g.count++;
      g.newest = id;
      groups.set(k, g);
    }
    counted += page.length;
    if (page.length < ask) break;
    start = `(${page[page.length - 1]![0].toString()}`;
  }
  return { groups: [...groups.values()], counted };
}

/**
 * Throws BadIdError unless `id` is a whole entry id. Redis reads `<ms>` alone as a range in XRANGE
 * (`<ms>-0` to `<ms>-max`) but as `<ms>-0` in XDEL: a replay by `<ms>` put back one entry and
 * deleted another, which a second replay then stored again.
 */
export function checkEntryId(id: string): void {
  if (!/^\d+-\d+$/.test(id)) throw new BadIdError(`dead-letter id ${JSON.stringify(id)}: expected <ms>-<seq>, as \`pipeline dlq list\` shows it`);
}

export async function getDeadLetter(redis: Redis, keys: Keys, id: string): Promise<DeadLetterEntry | undefined> {
  checkEntryId(id);
  const [hit] = await redis.xrangeBuffer(keys.dlq, id, id);
  return hit ? parse(hit[0].toString(), hit[1]) : undefined;
}

function fieldValue(fields: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/** The DLQ ids a selection names; `all` stops at the last id present now, so entries dead-lettered again meanwhile are not picked up twice. */
async function selectIds(redis: Redis, keys: Keys, sel: Selection): Promise<string[]> {
  if (sel.ids?.length) {
    sel.ids.forEach(checkEntryId);
    return sel.ids;
  }
  if (!sel.all) throw new Error('select entries with ids or all');
  const [last] = await redis.xrevrange(keys.dlq, '+', '-', 'COUNT', 1);
  if (!last) return [];
  const ids: string[] = [];
  let start = '-';
  const limit = sel.count ?? Infinity;
  while (ids.length < limit) {
    const page = await redis.xrange(keys.dlq, start, last[0], 'COUNT', 500);
    for (const [id, fields] of page) if (ids.length < limit && (sel.reason === undefined || fieldValue(fields, 'reason') === sel.reason)) ids.push(id);
    if (page.length < 500) break;
    start = `(${page[page.length - 1]![0]}`;
  }
  return ids;
}

export interface ReplayOptions {
  /** Wait before each entry while its stage's input lag is above its maxLag or Redis is full (the producer's rule). @defaultValue no waiting */
  backpressure?: { pollMs?: number; maxWaitMs?: number; onWait?: (p: Pressure, waitedMs: number) => void };
}

/**
 * Put dead letters back on their original stage stream (field `stream`), each one atomically with
 * its removal from the DLQ (dlq-replay-2.lua): it flows through that stage again as a new entry,
 * with its envelope as it was. Streams that are not a stage input of `config` are refused.
 * A sharded pipeline has one DLQ per shard: pass that shard's `keys` (an entry goes back to its own shard).
 */
export async function replayDeadLetters(
  redis: Redis,
  config: ResolvedConfig,
  sel: Selection,
  keys = new Keys(config.pipeline),
  o: ReplayOptions = {},
): Promise<ReplayResult> {
  const inputs = new Set(config.stages.map((s) => s.input));
  // Backpressure (lib/producer/backpressure.ts): per target stage, its maxLag and those of the stages after it; a fresh reading of the target per replayed entry.
  const pressure = new Map<string, Backpressure>();
  const waitFor = async (stream: string) => {
    if (!o.backpressure) return;
    let bp = pressure.get(stream);
    if (!bp)
      pressure.set(
        stream,
        (bp = Backpressure.forStage(
          redis,
          config.stages.find((s) => s.input === stream)!,
          keys,
          0,
          config, // and the stages after it
        )),
      );
    await bp.waitUntilClear(o.backpressure);
  };
  const result: ReplayResult = { replayed: [], skipped: [] };
  for (const id of await selectIds(redis, keys, sel)) {
    const entry = await getDeadLetter(redis, keys, id);
    if (!entry) {
      result.skipped.push({ id, why: 'not in the DLQ' });
      continue;
    }
    if (!inputs.has(entry.stream)) {
      result.skipped.push({ id, why: `stream ${JSON.stringify(entry.stream)} is no stage input of pipeline ${config.pipeline}` });
      continue;
    }
    await waitFor(entry.stream);
    const { value: r, dropped } = await duringDrops(redis, () =>
      replayScript.run<string | number>(redis, [keys.dlq, keys.stream(entry.stream)], [id, entry.stream]),
    );
    if (typeof r === 'string') result.replayed.push({ id, stream: entry.stream, newId: r });
    // Gone, but the connection dropped meanwhile: ioredis sent the call again by itself, after this call had replayed it.
    else if (r === 0 && dropped) result.replayed.push({ id, stream: entry.stream });
    else result.skipped.push({ id, why: r === 0 ? 'not in the DLQ' : r === -1 ? 'stream field changed' : 'no k or e field to replay' });
  }
  return result;
}

/** Ids per call of dlq-purge-1.lua: one script runs a bounded time. */
const PURGE_CHUNK = 500;

/**
 * Delete dead letters for good; returns the ids this call deleted (dlq-purge-1.lua finds and
 * deletes each in one step), not those it was asked for: an entry replayed or purged by someone
 * else first is not in it (XDEL answers only a count, and the console's audit had named the ids asked for).
 * A chunk whose connection dropped during the call counts what it found there and is gone after.
 */
export async function purgeDeadLetters(redis: Redis, keys: Keys, sel: Selection): Promise<string[]> {
  const ids = await selectIds(redis, keys, sel);
  const purged: string[] = [];
  for (let i = 0; i < ids.length; i += PURGE_CHUNK) {
    const chunk = ids.slice(i, i + PURGE_CHUNK);
    // Ids given by the caller may not be dead letters at all; those read from the DLQ just now were.
    const present = sel.ids?.length ? await presentIds(redis, keys.dlq, chunk) : new Set(chunk);
    const { value, dropped } = await duringDrops(redis, () => purgeScript.run<string[]>(redis, [keys.dlq], chunk));
    const deleted = new Set(value);
    // The connection dropped meanwhile: ioredis sent the call again by itself, and the re-send
    // answers nothing for what the first call had deleted. What was there and is gone now, it purged.
    const left = dropped ? await presentIds(redis, keys.dlq, chunk) : undefined;
    purged.push(...chunk.filter((id) => deleted.has(id) || (left !== undefined && present.has(id) && !left.has(id))));
  }
  return purged;
}
