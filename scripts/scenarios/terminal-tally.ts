/**
 * What the terminal streams (e.g. review) hold, for the chaos and soak counts: the record keys, and
 * how many records a stage sent there more than once. A record may reach a terminal stream once
 * per routing stage (classify sends a low-confidence one to review, validate one that misses a
 * required attribute): that is routing, not a duplicate; the same stage twice is one.
 */
import type { Redis } from 'ioredis';
import type { ResolvedConfig } from '../../lib/config/types.js';
import type { Shards } from '../../lib/redis/shard.js';
import { decodeEnvelope, entryFields } from '../../lib/stream/codec.js';

export interface TerminalTally {
  keys: Set<string>;
  /** Records a stage routed to a terminal stream more than once. */
  repeated: number;
}

const PAGE = 10_000;

export async function tallyTerminal(redis: Redis, config: ResolvedConfig, shards: Shards): Promise<TerminalTally> {
  const seen = new Map<string, number>();
  for (const t of config.streams.terminal.flatMap((name) => shards.all.map((k) => k.stream(name)))) {
    for (let from = '-'; ;) {
      const page = await redis.xrangeBuffer(t, from, '+', 'COUNT', PAGE);
      for (const [, fields] of page) {
        const { payload } = entryFields(fields);
        if (!payload) continue;
        const env = decodeEnvelope(payload);
        const by = `${t}\u0000${env.key}\u0000${env.hops.at(-1)?.stage ?? ''}`;
        seen.set(by, (seen.get(by) ?? 0) + 1);
      }
      if (page.length < PAGE) break;
      from = `(${page[page.length - 1]![0].toString()}`;
    }
  }
  const keys = new Set([...seen.keys()].map((k) => k.split('\u0000')[1]!));
  return { keys, repeated: [...seen.values()].filter((n) => n > 1).length };
}
