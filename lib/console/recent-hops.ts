import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';
import { Shards } from '../redis/shard.js';
import { decodeEnvelope, entryFields, type Envelope } from '../stream/codec.js';
import { toEntries } from '../stream/entries.js';

/** What the latency figures need of an envelope (the trace id tells the same message's copies apart). */
export type Hops = Pick<Envelope, 'producedAt' | 'hops' | 'traceId'>;

export interface RecentHopsOptions {
  /** Stage and terminal stream names (`Keys.stream`) whose entries carry envelopes. */
  streams: readonly string[];
  /** Newest entries kept per stream (and read per update at most). @defaultValue 100 */
  perStream?: number;
  /** Stored products looked up per update from the completions stream. @defaultValue 50 */
  stored?: number;
  /** Envelopes decoded between two yields to the event loop. @defaultValue 32 */
  chunk?: number;
}

interface Window {
  /** Newest entry id read, for an exclusive `(id` range next time. */
  last: string | null;
  hops: Hops[];
}

/**
 * The hops of recent envelopes, read incrementally: each update reads only the entries added
 * since the one before (newest first, at most `perStream`), and keeps the newest `perStream` per
 * stream. It runs in the API server's process, so decoding yields to the event loop every
 * `chunk` envelopes: re-reading and decoding the newest 200 envelopes of every stream at once,
 * every 5 s, took 50-100 ms of which most blocked the server (every in-flight request waited).
 * Sharded (`Shards` with more than one): every shard's streams and completions, each its own window.
 */
export class RecentHops {
  private readonly windows = new Map<string, Window>();
  private readonly perStream: number;
  private readonly chunk: number;
  private readonly shards: readonly Keys[];

  constructor(
    private readonly redis: Redis,
    space: Keys | Shards,
    private readonly o: RecentHopsOptions,
  ) {
    this.shards = Shards.of(space).all;
    this.perStream = o.perStream ?? 100;
    this.chunk = Math.max(1, o.chunk ?? 32);
  }

  /** Reads what is new and returns every kept envelope whose last hop is at or after `since` (ms). */
  async update(since: number): Promise<Hops[]> {
    const streams = this.shards.flatMap((keys) => this.o.streams.map((s) => keys.stream(s)));
    await Promise.all([...streams.map((k) => this.readStream(k)), ...this.shards.map((keys) => this.readStored(keys))]);
    const out: Hops[] = [];
    for (const w of this.windows.values()) {
      w.hops = w.hops.filter((h) => (h.hops.at(-1)?.doneAt ?? h.producedAt) >= since);
      out.push(...w.hops);
    }
    return out;
  }

  private window(key: string): Window {
    let w = this.windows.get(key);
    if (!w) this.windows.set(key, (w = { last: null, hops: [] }));
    return w;
  }

  private async readStream(key: string): Promise<void> {
    const w = this.window(key);
    const from = w.last === null ? '-' : `(${w.last}`;
    const reply = (await this.redis.xrevrangeBuffer(key, '+', from, 'COUNT', this.perStream)) as unknown as [Buffer, Buffer[] | null][];
    const entries = toEntries(reply);
    if (entries.length === 0) return;
    w.last = entries[0]!.id;
    await this.keep(w, entries, ({ fields }) => {
      const { payload } = entryFields(fields);
      if (!payload) return undefined;
      try {
        const env = decodeEnvelope(payload);
        return { producedAt: env.producedAt, hops: env.hops, traceId: env.traceId };
      } catch {
        return undefined; // Not an envelope (e.g. a completion record): no hops to read.
      }
    });
  }

  /** Reads `items` newest first into `w`, yielding to the event loop every `chunk`; keeps the newest `perStream`. */
  private async keep<T>(w: Window, items: readonly T[], read: (item: T) => Hops | undefined): Promise<void> {
    const fresh: Hops[] = [];
    for (let i = 0; i < items.length; i++) {
      if (i > 0 && i % this.chunk === 0) await yieldToLoop();
      const h = read(items[i]!);
      if (h) fresh.push(h);
    }
    w.hops = [...fresh, ...w.hops].slice(0, this.perStream);
  }

  /** Stage streams are trimmed once acked: the stored documents keep every hop of recent products. */
  private async readStored(keys: Keys): Promise<void> {
    const key = keys.done;
    const w = this.window(key);
    const from = w.last === null ? '-' : `(${w.last}`;
    const done = (await this.redis.xrevrange(key, '+', from, 'COUNT', this.o.stored ?? 50)) as [string, string[]][];
    if (done.length === 0) return;
    w.last = done[0]![0];
    const storedKeys = [...new Set(done.filter(([, f]) => f.includes('stored')).map(([, f]) => f[f.indexOf('k') + 1]!))];
    const docs = await Promise.all(storedKeys.map((k) => this.redis.hmget(keys.product(k), 'doc', 'trace')));
    await this.keep(w, docs, ([doc, trace]) => {
      if (!doc) return undefined;
      try {
        const d = JSON.parse(doc) as Partial<Envelope>;
        if (Array.isArray(d.hops) && typeof d.producedAt === 'number')
          return { producedAt: d.producedAt, hops: d.hops, traceId: trace ?? `${d.key}:${d.producedAt}` };
      } catch {
        // A document that does not parse: no hops from it.
      }
      return undefined;
    });
  }
}

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));
