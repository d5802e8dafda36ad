import type { Redis } from 'ioredis';
import type { Keys } from '../../lib/redis/keys.js';

/**
 * Product `key` (the `i`th) stored as the redis sink keeps it: its hash and its member of the
 * products set, having gone through preprocess and validate (what `reprocess --from-stage
 * validate` puts back). Written through `redis`, a node's own connection or a Cluster client.
 */
export async function writeStoredProduct(redis: Pick<Redis, 'hset' | 'sadd'>, keys: Keys, key: string, i: number): Promise<void> {
  const doc = {
    key,
    input: { id: key, title: `Acme widget ${i}` },
    outputs: {},
    route: ['preprocess', 'validate', 'store'],
    hops: [{ stage: 'preprocess' }, { stage: 'validate' }],
  };
  await redis.hset(keys.product(key), {
    doc: JSON.stringify(doc),
    category: 'widgets',
    copies: '1',
    entry: `1-${i}`,
    trace: `t${i}`,
    storedAt: String(Date.now()),
    version: `1700000000000-${i}`,
  });
  await redis.sadd(keys.products, key);
}
