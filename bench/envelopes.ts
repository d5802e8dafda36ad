import type { Redis } from 'ioredis';
import { decodeEnvelope, FIELD_ENVELOPE, type Envelope } from '../lib/stream/codec.js';

/**
 * Every envelope in `streams` after the id given per stream (all when none), with the server time
 * its entry was added (the entry id's milliseconds), in chunks of XRANGE.
 */
export async function scanEnvelopes(
  redis: Redis,
  streams: readonly string[],
  visit: (env: Envelope, arrivedAt: number) => void,
  afterId: ReadonlyMap<string, string> = new Map(),
): Promise<void> {
  for (const s of streams) {
    let from = `(${afterId.get(s) ?? '0-0'}`;
    for (;;) {
      const chunk = (await redis.xrangeBuffer(s, from, '+', 'COUNT', 5_000)) as [Buffer, Buffer[]][];
      if (chunk.length === 0) break;
      for (const [id, fields] of chunk) {
        const at = fields.findIndex((f, i) => i % 2 === 0 && f.toString() === FIELD_ENVELOPE);
        if (at >= 0) visit(decodeEnvelope(fields[at + 1]!), Number(id.toString().split('-')[0]));
      }
      from = `(${chunk[chunk.length - 1]![0].toString()}`;
    }
  }
}

/** Mean batch size each stage ran the records in (from the envelopes' hops). */
export async function meanBatchSizes(redis: Redis, streams: readonly string[]): Promise<Map<string, number>> {
  const sum = new Map<string, [number, number]>();
  await scanEnvelopes(redis, streams, (env) => {
    for (const h of env.hops) {
      const s = sum.get(h.stage) ?? [0, 0];
      sum.set(h.stage, [s[0] + h.batch, s[1] + 1]);
    }
  });
  return new Map([...sum].map(([stage, [total, n]]) => [stage, total / n]));
}
