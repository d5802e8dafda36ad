import type { CompletionEvent } from '../stream/completions.js';
import { compareIds } from '../stream/stream-id.js';
import { echo } from './echo.js';

/**
 * Where an SSE client is in the completion streams, and the frames that move it on.
 *
 * A **position** has one stream id per shard: `position[i]` is the id of the last entry of shard
 * i's `{p:i}:done` the client was sent. Each event's SSE id is the position once it is sent: the ids
 * joined by commas, in shard order (`1733400000000-0,1733400000123-2,0-0`); unsharded, the one
 * stream id (`1733400000000-0`), as it always was. A client resuming with `Last-Event-ID` is sent,
 * per shard, what follows that shard's id: none twice, none skipped, whatever order the shards'
 * entries were interleaved in (a shard number and its entry id alone could not say where the other
 * shards were: their entries are read by separate readers, on separate masters with separate clocks).
 */

const ID = '\\d+-\\d+';
/** A Last-Event-ID as the server writes them: one stream id, or one per shard joined by commas. */
export const POSITION_RE = new RegExp(`^${ID}(?:,${ID})*$`);
const U64_MAX = 2n ** 64n - 1n;

/** `<ms>-<seq>` with both parts within Redis's 64 bits. */
export const streamIdInRange = (id: string): boolean => /^\d+-\d+$/.test(id) && id.split('-').every((p) => BigInt(p) <= U64_MAX);

/** A position as the SSE event id: the shards' ids joined by commas (unsharded: the stream id itself). */
export const formatPosition = (p: readonly string[]): string => p.join(',');

/**
 * A client's Last-Event-ID as a position of `shards` ids, or why it is refused. One plain stream id
 * stands for every shard's (a client of the pipeline before it was sharded: every shard resumes
 * after that id); any other count than 1 or `shards` is refused, as is an id past Redis's 64 bits.
 */
export function parsePosition(text: string, shards: number): string[] | { error: string } {
  if (!POSITION_RE.test(text)) return { error: `expected a stream id <ms>-<seq>, or one per shard joined by commas, as the event ids are` };
  const ids = text.split(',');
  const bad = ids.find((id) => !streamIdInRange(id));
  if (bad) return { error: `each part of a stream id is below 2^64 (${echo(bad)})` };
  if (ids.length === 1) return Array.from({ length: shards }, () => ids[0]!);
  if (ids.length !== shards)
    return { error: `${ids.length} stream ids, but the pipeline has ${shards} shard${shards === 1 ? '' : 's'} (one id per shard, or one for all)` };
  return ids;
}

function frame(e: CompletionEvent, id: string): string {
  return `id: ${id}\nevent: completion\ndata: ${JSON.stringify(e)}\n\n`;
}

/** The later of two stream ids ("" counts as 0-0). */
const later = (a: string, b: string): string => (compareIds(a, b) >= 0 ? a : b);

/**
 * A batch of completions as SSE frames, formatted once whatever the number of clients: every
 * client at the batch's `base` position (the position before it: every live client once it is
 * past its catch-up) is written the same bytes (one Buffer, shared, not copied). `events` all
 * follow `base` in their shards (a live batch, a catch-up page read after the position).
 */
export class FrameBatch {
  private readonly frames: string[];
  private whole?: Buffer;
  /** The position after the batch. */
  readonly end: readonly string[];

  constructor(
    readonly events: readonly CompletionEvent[],
    readonly base: readonly string[],
  ) {
    const at = [...base];
    this.frames = events.map((e) => {
      at[e.shard ?? 0] = e.id;
      return frame(e, formatPosition(at));
    });
    this.end = at;
  }

  /** The frames of the events after position `last`, as one chunk, and the position once they are sent; undefined when there are none. */
  after(last: readonly string[]): { chunk: Buffer; position: readonly string[] } | undefined {
    if (this.events.length === 0) return undefined;
    if (last.length === this.base.length && last.every((id, i) => id === this.base[i]))
      return { chunk: (this.whole ??= Buffer.from(this.frames.join(''))), position: this.end };
    if (this.base.length === 1) {
      // One stream: the events after `last` are a tail of the batch, their frames already formatted.
      let i = 0;
      while (i < this.events.length && compareIds(this.events[i]!.id, last[0] ?? '') <= 0) i++;
      if (i === this.events.length) return undefined;
      return { chunk: i === 0 ? (this.whole ??= Buffer.from(this.frames.join(''))) : Buffer.from(this.frames.slice(i).join('')), position: this.end };
    }
    // Shards, and the client elsewhere than `base` (ahead of it on a shard after its catch-up): its own ids.
    const at = this.base.map((id, i) => later(last[i] ?? '', id));
    const out: string[] = [];
    for (const e of this.events) {
      const s = e.shard ?? 0;
      if (compareIds(e.id, last[s] ?? '') <= 0) continue;
      at[s] = e.id;
      out.push(frame(e, formatPosition(at)));
    }
    return out.length ? { chunk: Buffer.from(out.join('')), position: at } : undefined;
  }
}
