/**
 * The count of `npm run chaos` (scripts/chaos.ts), once the pipeline has drained: each good record
 * stored (and in how many copies), in a terminal stream, or dead-lettered as bad; the DLQ; what the
 * input streams received. Records are `c0` .. `c<produced - 1>`; garbage entries `garbage-<n>`.
 */
import type { Redis } from 'ioredis';
import type { ResolvedConfig } from '../../lib/config/types.js';
import type { Shards } from '../../lib/redis/shard.js';
import { decodeEnvelope, entryFields } from '../../lib/stream/codec.js';

export interface ChaosTally {
  /** Good records whose product exists. */
  stored: number;
  /** Records stored from more than one store-stream entry, or in a terminal stream more than once. */
  duplicated: number;
  /** Good records neither stored, in a terminal stream, nor dead-lettered as bad. */
  lost: number;
  /** Records in a terminal stream (e.g. review). */
  inTerminal: number;
  /** DLQ entries in all, the garbage ones (reason undecodable), and the bad records a stage refused for good. */
  dlq: number;
  dlqGarbage: number;
  dlqBad: number;
  /** Entries the input streams received (XINFO STREAM entries-added, over the shards). */
  added: number;
}

/** Counts stored products, terminal streams, the DLQ and what the input stream received. */
export async function tallyChaos(redis: Redis, config: ResolvedConfig, shards: Shards, produced: number): Promise<ChaosTally> {
  const copies: (string | null)[] = [];
  for (let i = 0; i < produced; i += 2000) {
    const p = redis.pipeline();
    for (let j = i; j < Math.min(produced, i + 2000); j++) p.hget(shards.keysFor(`c${j}`).product(`c${j}`), 'copies');
    copies.push(...((await p.exec()) ?? []).map(([, v]) => v as string | null));
  }
  const elsewhere = new Map<string, number>();
  for (const t of config.streams.terminal.flatMap((name) => shards.all.map((k) => k.stream(name)))) {
    for (const [, fields] of await redis.xrangeBuffer(t, '-', '+')) {
      const { payload } = entryFields(fields);
      if (payload) elsewhere.set(decodeEnvelope(payload).key, (elsewhere.get(decodeEnvelope(payload).key) ?? 0) + 1);
    }
  }
  const dlq = (await Promise.all(shards.all.map((k) => redis.xrange(k.dlq, '-', '+')))).flat();
  const dlqGarbage = dlq.filter(([, f]) => f[1]?.startsWith('garbage-') && f.includes('undecodable')).length;
  // Genuinely bad records a stage refused for good (a permanent error, no route): counted apart, not lost.
  const badReasons = new Set(['permanent_error', 'no_route']);
  const dlqBad = new Set(dlq.filter(([, f]) => !f[1]?.startsWith('garbage-') && badReasons.has(f[f.indexOf('reason') + 1] ?? '')).map(([, f]) => f[1]!));
  let added = 0;
  for (const k of shards.all) {
    const info = (await redis.xinfo('STREAM', k.stream(config.input)).catch(() => [])) as unknown[];
    added += Number(info[info.indexOf('entries-added') + 1] ?? 0);
  }
  return {
    stored: copies.filter((c) => c !== null).length,
    duplicated: copies.filter((c) => Number(c) > 1).length + [...elsewhere.values()].filter((n) => n > 1).length,
    lost: copies.filter((c, i) => c === null && !elsewhere.has(`c${i}`) && !dlqBad.has(`c${i}`)).length,
    inTerminal: [...elsewhere.keys()].length,
    dlq: dlq.length,
    dlqGarbage,
    dlqBad: dlqBad.size,
    added,
  };
}
