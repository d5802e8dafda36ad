/**
 * Did a stage forward the same input entry twice? For the chaos and soak counts: every stream a
 * stage reads (but the pipeline's input, which the producer writes: `produced twice` checks that)
 * is read whole (XRANGE, in pages), and each entry known by its record's lineage (trace id and
 * `origin`, the input-stream entry id: set once per production, kept on every hop; lineageOf in
 * stages/sinks/sink.ts) and the stage that sent it (its last hop). The atomic hand-off
 * (handoff-N.lua) sends one output entry per input entry and target, however often a stage runs on
 * it, so a record of one production is in each stream at most once per sending stage: a second
 * entry is a record forwarded twice. The sinks' `copies` no longer shows that (it counts
 * productions, not store entries), hence this figure.
 *
 * Entries trimmed from a stream before the count (`streams.trimAcked`, or deleted) cannot be
 * checked: `unchecked` says how many (XINFO STREAM entries-added minus its length). The chaos run
 * keeps its streams untrimmed, so it checks every entry.
 */
import type { Redis } from 'ioredis';
import type { ResolvedConfig } from '../../lib/config/types.js';
import type { Shards } from '../../lib/redis/shard.js';
import { decodeEnvelope, entryFields } from '../../lib/stream/codec.js';

export interface ForwardTally {
  /** Records (keys) a stage sent into one stream more than once: one production in two or more entries. */
  forwardedTwice: number;
  /** Entries read and checked. */
  checked: number;
  /** Entries the streams received but no longer hold (trimmed, deleted): not checked. */
  unchecked: number;
}

export interface ForwardTallyOptions {
  /** Entries per XRANGE call. @defaultValue 10000 */
  pageSize?: number;
}

/** The streams stages read, but the pipeline's input, on every shard. */
export function forwardedStreams(config: ResolvedConfig, shards: Shards): string[] {
  const names = [...new Set(config.stages.map((s) => s.input))].filter((n) => n !== config.input);
  return names.flatMap((name) => shards.all.map((k) => k.stream(name)));
}

/** Counts the records some stage forwarded twice into one stream, over what the streams still hold. */
export async function tallyForwarded(redis: Redis, config: ResolvedConfig, shards: Shards, o: ForwardTallyOptions = {}): Promise<ForwardTally> {
  const pageSize = o.pageSize ?? 10_000;
  const seen = new Map<string, number>();
  let checked = 0;
  let unchecked = 0;
  for (const stream of forwardedStreams(config, shards)) {
    const info = (await redis.xinfo('STREAM', stream).catch(() => undefined)) as unknown[] | undefined;
    if (!info) continue;
    const added = Number(info[info.indexOf('entries-added') + 1] ?? 0);
    const length = Number(info[info.indexOf('length') + 1] ?? 0);
    unchecked += Math.max(0, added - length);
    for (let from = '-'; ;) {
      const page = await redis.xrangeBuffer(stream, from, '+', 'COUNT', pageSize);
      for (const [, fields] of page) {
        const { payload } = entryFields(fields);
        if (!payload) continue;
        const env = decodeEnvelope(payload);
        checked++;
        const by = [stream, env.key, env.traceId, env.origin ?? '', env.hops.at(-1)?.stage ?? ''].join('\u0000');
        seen.set(by, (seen.get(by) ?? 0) + 1);
      }
      if (page.length < pageSize) break;
      from = `(${page[page.length - 1]![0].toString()}`;
    }
  }
  const twice = new Set([...seen].filter(([, n]) => n > 1).map(([by]) => by.split('\u0000')[1]!));
  return { forwardedTwice: twice.size, checked, unchecked };
}
