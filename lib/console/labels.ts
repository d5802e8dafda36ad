import type { Redis } from 'ioredis';
import type { Writable } from 'node:stream';
import type { Keys } from '../redis/keys.js';
import type { Label } from './review.js';

/**
 * Every review decision kept in `{p}:labels` (one entry per decision, never trimmed: they are
 * training data), oldest first; a product decided twice keeps its latest decision only.
 * Entries that do not parse are returned in `bad` with their id (never dropped silently).
 */
export async function readLabels(redis: Redis, keys: Keys): Promise<{ labels: Label[]; bad: { id: string; why: string }[] }> {
  const latest = new Map<string, Label>();
  const bad: { id: string; why: string }[] = [];
  let start = '-';
  for (;;) {
    const page = (await redis.xrange(keys.extra('labels'), start, '+', 'COUNT', 1000)) as [string, string[]][];
    for (const [id, fields] of page) {
      const i = fields.indexOf('label');
      try {
        if (i < 0) throw new Error('no label field');
        const l = JSON.parse(fields[i + 1]!) as Label;
        if (typeof l.id !== 'string' || typeof l.title !== 'string' || typeof l.category !== 'string') throw new Error('label lacks id, title or category');
        latest.delete(l.id); // re-insert: the map's order is the latest decision's order
        latest.set(l.id, l);
      } catch (err) {
        bad.push({ id, why: err instanceof Error ? err.message : String(err) });
      }
    }
    if (page.length < 1000) break;
    start = `(${page[page.length - 1]![0]}`;
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
