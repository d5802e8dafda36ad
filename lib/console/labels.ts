import type { Redis } from 'ioredis';
import type { Writable } from 'node:stream';
import { Keys } from '../redis/keys.js';
import { Shards } from '../redis/shard.js';
import type { Label } from './review.js';

/**
 * The streams review decisions are kept in: `{p}:labels`, and with shards each shard's
 * `{p:N}:labels` too (a decision's script, review-decide-N.lua, writes its label on the product's
 * shard, in one step with the decision: one Redis Cluster slot), the pipeline's own first.
 */
export function labelStreams(space: Keys | Shards): string[] {
  const shards = Shards.of(space);
  if (shards.count === 1) return [shards.all[0]!.extra('labels')];
  return [new Keys(shards.pipeline).extra('labels'), ...shards.all.map((k) => k.extra('labels'))];
}

/**
 * Every review decision kept in the label streams (`labelStreams`; one entry per decision, never
 * trimmed: they are training data), oldest first (over several streams, by `reviewedAt`); a
 * product decided twice keeps its latest decision only. Entries that do not parse are returned in
 * `bad` with their id (`<stream key>/<id>` when there are several streams; never dropped silently).
 */
export async function readLabels(redis: Redis, space: Keys | Shards): Promise<{ labels: Label[]; bad: { id: string; why: string }[] }> {
  const streams = labelStreams(space);
  const read: Label[][] = [];
  const bad: { id: string; why: string }[] = [];
  for (const key of streams) {
    const labels: Label[] = [];
    let start = '-';
    for (;;) {
      const page = (await redis.xrange(key, start, '+', 'COUNT', 1000)) as [string, string[]][];
      for (const [id, fields] of page) {
        const i = fields.indexOf('label');
        try {
          if (i < 0) throw new Error('no label field');
          const l = JSON.parse(fields[i + 1]!) as Label;
          if (typeof l.id !== 'string' || typeof l.title !== 'string' || typeof l.category !== 'string') throw new Error('label lacks id, title or category');
          labels.push(l);
        } catch (err) {
          bad.push({ id: streams.length > 1 ? `${key}/${id}` : id, why: err instanceof Error ? err.message : String(err) });
        }
      }
      if (page.length < 1000) break;
      start = `(${page[page.length - 1]![0]}`;
    }
    read.push(labels);
  }
  // One stream: its order. Several: by decision time (a stable sort keeps each stream's own order among equal times).
  const all = read.length === 1 ? read[0]! : read.flat().sort((a, b) => (a.reviewedAt ?? 0) - (b.reviewedAt ?? 0));
  const latest = new Map<string, Label>();
  for (const l of all) {
    latest.delete(l.id); // re-insert: the map's order is the latest decision's order
    latest.set(l.id, l);
  }
  return { labels: [...latest.values()], bad };
}

/** Labels as JSONL in the training data's shape: id, title, category, brand, mpn (null: cleared by the reviewer; left out: never set), source_category, source, then the review's own fields. */
export async function writeLabelsJsonl(labels: readonly Label[], out: Writable): Promise<void> {
  for (const l of labels) {
    const line =
      JSON.stringify({
        id: l.id,
        title: l.title,
        category: l.category,
        brand: l.brand,
        mpn: l.mpn,
        gtin: l.gtin,
        source_category: l.source_category,
        source: l.source,
        decision: l.decision,
        predicted: l.predicted,
        reviewedBy: l.reviewedBy,
        reviewedAt: new Date(l.reviewedAt).toISOString(),
      }) + '\n';
    if (!out.write(line)) await new Promise((res) => out.once('drain', res));
  }
}
