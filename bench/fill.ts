import type { Redis } from 'ioredis';
import { encodeEnvelope, FIELD_ENVELOPE, FIELD_KEY, newEnvelope, type ProductRecord } from '../lib/stream/codec.js';

/** XADD `count` records to `stream` as envelopes, pipelined in chunks (the producer's entry format). */
export async function fillStream(redis: Redis, stream: string, count: number, record: (i: number) => ProductRecord, chunk = 1_000): Promise<void> {
  for (let start = 0; start < count; start += chunk) {
    const p = redis.pipeline();
    for (let i = start; i < Math.min(count, start + chunk); i++) {
      const r = record(i);
      p.xadd(stream, '*', FIELD_KEY, r.id, FIELD_ENVELOPE, encodeEnvelope(newEnvelope(r)));
    }
    const res = (await p.exec()) ?? [];
    for (const [err] of res) if (err) throw err;
  }
}

/** Total entries across `streams` (XLEN each, one round trip). */
export async function totalLength(redis: Redis, streams: readonly string[]): Promise<number> {
  const p = redis.pipeline();
  for (const s of streams) p.xlen(s);
  const res = (await p.exec()) ?? [];
  return res.reduce((sum, [err, n]) => (err ? sum : sum + Number(n)), 0);
}

/** Server time (ms) of the newest entry across `streams`, from its id: when the last record arrived. */
export async function lastArrivalMs(redis: Redis, streams: readonly string[]): Promise<number> {
  let last = 0;
  for (const s of streams) {
    const e = (await redis.xrevrange(s, '+', '-', 'COUNT', 1)) as [string, string[]][];
    if (e[0]) last = Math.max(last, Number(e[0][0].split('-')[0]));
  }
  return last;
}
