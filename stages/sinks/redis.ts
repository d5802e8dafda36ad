import type { Redis } from 'ioredis';
import { TransientError } from '../../lib/core/errors.js';
import { classify } from '../../lib/core/failure-policy.js';
import type { Keys } from '../../lib/redis/keys.js';
import { Script } from '../../lib/redis/script.js';
import { Shards } from '../../lib/redis/shard.js';
import { SUMMARY_FIELDS } from '../domain/summary.js';
import { APPLIED_ENTRIES_KEPT, entryIdentity, lineageOf, type Sink, type StoredProduct } from './sink.js';

const upsert = new Script('upsert-product-5');
const dropMarker = new Script('drop-reprocess-marker-1');

/** The indexed fields of a product hash beside `category` (which every version has): a version without one removes it. */
export const INDEXED_FIELDS: readonly string[] = SUMMARY_FIELDS.filter((f) => f !== 'category');

/**
 * The embedded default store: one hash per product (`{p}:product:<key>`: doc JSON plus indexed
 * fields, which mirror the stored version: one it lacks is removed; `copies`, and `applied`, its last
 * `kept` entries (APPLIED_ENTRIES_KEPT unless settings.appliedEntriesKept) as `<stream>/<entry id>`, so a re-delivered entry never counts again, and
 * `lineages`, as many of its last lineages, so neither does the same record under another entry), a set of all keys and one set per category; with shards, each product's keys are under
 * its shard's tag (`{p:3}:product:<key>`, `{p:3}:products`, `{p:3}:category:<name>`). Commands go out auto-pipelined, one script
 * call per product, all in one round trip per batch.
 */
/** `kept`: the entries `applied` keeps (settings.appliedEntriesKept). */
export function createRedisSink(redis: Redis, space: Keys | Shards, kept = APPLIED_ENTRIES_KEPT): Sink {
  const shards = Shards.of(space);
  return {
    name: 'redis',
    // Two shards' batches at once: each product's script call goes to its own shard's keys, so a batch waiting on a master
    // that does not answer holds its shard only.
    concurrentShards: true,
    async write(products: readonly StoredProduct[]) {
      try {
        const fresh = await writeAll(products);
        const notPending = products.filter((_, i) => fresh[i] === -2).map((p) => p.entryId);
        return { stale: fresh.filter((f) => f === -1).length, ...(notPending.length ? { notPending } : {}) };
      } catch (err) {
        // Redis full (OOM under noeviction), unable to persist (MISCONF), loading, failing over: an outage, not bad data. The
        // batch waits in place; the upsert is idempotent, so the products already written are fine.
        const c = classify(err);
        if (c.class === 'transient')
          throw new TransientError(`redis store unavailable: ${(err as Error).message}`, {
            cause: err,
            outage: c.outage,
            dependency: c.outage === 'redis_oom' ? 'Redis (out of memory)' : c.outage === 'redis_misconf' ? 'Redis (cannot persist to disk)' : 'Redis',
          });
        throw err;
      }
    },
    close: async () => {},
  };

  function writeAll(products: readonly StoredProduct[]): Promise<number[]> {
    return Promise.all(
      products.map((p) => {
        // A sharded pipeline stores each product under its shard's tag, beside its streams.
        const keys = shards.keysFor(p.key);
        const pairs: string[] = ['doc', JSON.stringify(p.doc), 'trace', p.traceId, 'storedAt', String(p.storedAt)];
        for (const [k, v] of Object.entries(p.fields)) pairs.push(k, String(v));
        const absent = INDEXED_FIELDS.filter((f) => !Object.hasOwn(p.fields, f));
        // Written only while its delivery is pending (a write retried after a failover may find its entry lost).
        const source = p.pending ? keys.stream(p.pending.stream) : keys.product(p.key);
        return upsert.run<number>(
          redis,
          [keys.product(p.key), keys.products, keys.category(p.category), keys.reprocess(p.key), source],
          [
            p.key,
            p.entryId,
            p.category,
            keys.category(''),
            p.version ?? '',
            p.rebuilt ? '1' : '',
            p.pending?.group ?? '',
            entryIdentity(p),
            kept,
            lineageOf(p) ?? '',
            absent.length,
            ...absent,
            ...pairs,
          ],
        );
      }),
    );
  }
}

/**
 * After a sink other than Redis committed `products`: delete the `pipeline reprocess` marker of
 * each whose stored version is at or after the marker's origin (drop-reprocess-marker-1.lua; the
 * Redis sink does it within its upsert). Pipelined, one call per product.
 */
export async function dropReprocessMarkers(redis: Redis, space: Keys | Shards, products: readonly StoredProduct[]): Promise<void> {
  const shards = Shards.of(space);
  await Promise.all(products.map((p) => dropMarker.run(redis, [shards.keysFor(p.key).reprocess(p.key)], [p.version ?? '', p.entryId])));
}

/** Read one stored product back (for tests, export and status). */
export async function readProduct(redis: Redis, keys: Keys | Shards, key: string): Promise<Record<string, string> | null> {
  const h = await redis.hgetall(Shards.of(keys).keysFor(key).product(key));
  return Object.keys(h).length ? h : null;
}
