import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';
import { asCluster, masterForKey } from '../redis/url.js';

/**
 * Delete every key of these key sets (`{tag}:*`: streams, groups' state, products, producer run
 * state), or those of them matching `{tag}:<match>` (a SCAN pattern: `vectors:*`), found by SCAN on
 * the node that holds the tag (one slot on a Cluster) and UNLINKed in batches. For a throwaway
 * pipeline (`pipeline eval`'s); returns how many keys went.
 */
export async function dropPipelineKeys(redis: Redis, keySets: readonly Keys[], match = '*'): Promise<number> {
  const cluster = asCluster(redis);
  let dropped = 0;
  for (const keys of keySets) {
    const node = cluster ? masterForKey(cluster, keys.tag) : redis;
    if (!node) throw new Error(`no Redis node known for ${keys.tag}`);
    let cursor = '0';
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', `${keys.tag}:${match}`, 'COUNT', 1000);
      cursor = next;
      if (found.length > 0) dropped += await redis.unlink(...found);
    } while (cursor !== '0');
  }
  return dropped;
}
