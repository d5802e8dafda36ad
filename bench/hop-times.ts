/**
 * Where a record's latency goes, from the hops the store keeps in each stored document
 * (`doc.hops`: per stage, when the entry was read and when its output was handed off): per stage,
 * the wait in its input stream (read − the previous hand-off, or − produced for the first) and the
 * run (hand-off − read), as p50/p99 over the given ids.
 */
import type { Redis } from 'ioredis';
import type { Hop } from '../lib/stream/codec.js';
import type { Keys } from '../lib/redis/keys.js';
import { percentile } from './stats.js';

export async function hopTimes(redis: Redis, keys: Keys, ids: readonly string[]): Promise<string> {
  const wait = new Map<string, number[]>();
  const run = new Map<string, number[]>();
  const push = (m: Map<string, number[]>, k: string, v: number) => (m.get(k) ?? m.set(k, []).get(k)!).push(v);
  const docs = await Promise.all(ids.map((id) => redis.hget(keys.product(id), 'doc')));
  let n = 0;
  for (const doc of docs) {
    if (!doc) continue;
    const d = JSON.parse(doc) as { hops?: Hop[]; producedAt?: number };
    if (!d.hops || typeof d.producedAt !== 'number') continue;
    n++;
    let prev = d.producedAt;
    for (const h of d.hops) {
      push(wait, h.stage, h.readAt - prev);
      push(run, h.stage, h.doneAt - h.readAt);
      prev = h.doneAt;
    }
  }
  const fmt = (xs: number[] | undefined) => {
    const s = [...(xs ?? [])].sort((a, b) => a - b);
    return `${Math.round(percentile(s, 50))}/${Math.round(percentile(s, 99))}`;
  };
  return `${n} records, per stage wait|run p50/p99 ms: ${[...run.keys()].map((st) => `${st} ${fmt(wait.get(st))}|${fmt(run.get(st))}`).join(', ')}`;
}
