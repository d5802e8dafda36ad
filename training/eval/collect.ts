import type { Redis } from 'ioredis';
import { decodeEnvelope, entryFields, type Envelope } from '../../lib/stream/codec.js';
import type { Keys } from '../../lib/redis/keys.js';
import { Shards } from '../../lib/redis/shard.js';
import { outputsInOrder, summarize, type Summary } from '../../stages/domain/summary.js';

export interface Outcome {
  /** Where the record ended: stored, sent to review, or dead-lettered. */
  where: 'stored' | 'review' | 'dlq';
  /** Sent to the review stream: alone (`where` review) or as well as stored (a low-confidence record is still enriched and stored). */
  review: boolean;
  summary: Summary;
  /** The classify stage's output (subcategories, group), when the record got that far. */
  classify?: Record<string, unknown>;
  /** The latest stage output's `attributes` (the extractor's, normalised). */
  attributes?: Record<string, unknown>;
  /** validate's `attributesComplete` (absent: no schema applied). */
  attributesComplete?: boolean;
}

/** The extractor's attributes and validate's schema flag, from the latest outputs that have them. */
function attributeOutputs(env: Envelope): Pick<Outcome, 'attributes' | 'attributesComplete'> {
  const found: Pick<Outcome, 'attributes' | 'attributesComplete'> = {};
  for (const o of outputsInOrder(env)) {
    if (o.attributes !== null && typeof o.attributes === 'object') found.attributes = o.attributes as Record<string, unknown>;
    if (typeof o.attributesComplete === 'boolean') found.attributesComplete = o.attributesComplete;
  }
  return found;
}

const classifyOutput = (doc: Pick<Envelope, 'outputs'> | undefined): Record<string, unknown> | undefined => {
  const o = doc?.outputs?.classify;
  return o !== null && typeof o === 'object' ? (o as Record<string, unknown>) : undefined;
};

async function* streamEnvelopes(redis: Redis, key: string): AsyncGenerator<{ id: string; key?: string; env?: Envelope }> {
  let from = '-';
  for (;;) {
    const batch = await redis.xrangeBuffer(key, from, '+', 'COUNT', 1000);
    if (batch.length === 0) return;
    for (const [id, fields] of batch) {
      const { key: k, payload } = entryFields(fields);
      yield {
        id: id.toString(),
        key: k,
        env: payload
          ? (() => {
              try {
                return decodeEnvelope(payload);
              } catch {
                return undefined;
              }
            })()
          : undefined,
      };
    }
    const last = batch[batch.length - 1]![0].toString();
    const [ms, seq] = last.split('-');
    from = `${ms}-${Number(seq) + 1}`;
  }
}

/**
 * Every record's outcome, by key: stored products, the review stream (alone or as well as stored), and the DLQ (of every shard).
 * `readTo`, when given, gets the id of the last entry read of each review and DLQ stream key (none: the stream was empty),
 * so that what was read can be trimmed (training/eval/release.ts).
 */
export async function collectOutcomes(
  redis: Redis,
  keys: Keys | Shards,
  ids: readonly string[],
  reviewStream: string,
  readTo?: Map<string, string>,
): Promise<Map<string, Outcome>> {
  const out = new Map<string, Outcome>();
  const shards = Shards.of(keys);
  for (let i = 0; i < ids.length; i += 500) {
    const chunk = ids.slice(i, i + 500);
    const docs = await Promise.all(chunk.map((id) => redis.hget(shards.keysFor(id).product(id), 'doc')));
    chunk.forEach((id, j) => {
      const d = docs[j];
      if (!d) return;
      const doc = JSON.parse(d) as Pick<Envelope, 'outputs' | 'hops'>;
      out.set(id, { where: 'stored', review: false, summary: summarize(doc as Envelope), classify: classifyOutput(doc), ...attributeOutputs(doc as Envelope) });
    });
  }
  for (const shard of shards.all) {
    for await (const { id, key, env } of streamEnvelopes(redis, shard.stream(reviewStream))) {
      readTo?.set(shard.stream(reviewStream), id);
      const known = key ? out.get(key) : undefined;
      if (known) known.review = true;
      else if (key && env) out.set(key, { where: 'review', review: true, summary: summarize(env), classify: classifyOutput(env), ...attributeOutputs(env) });
    }
  }
  for (const shard of shards.all) {
    for await (const { id, key, env } of streamEnvelopes(redis, shard.dlq)) {
      readTo?.set(shard.dlq, id);
      if (key && !out.has(key)) out.set(key, { where: 'dlq', review: false, summary: env ? summarize(env) : {} });
    }
  }
  return out;
}
