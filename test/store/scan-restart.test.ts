/**
 * A scan of the redis sink's products set (SSCAN, `reprocess`'s and `export`'s read) that rides out
 * a Redis restart or a failover must read every product. An SSCAN cursor means something only to
 * the server that gave it: each redis-server process hashes with a seed of its own, so a restarted
 * server or a promoted replica keeps the same members in other buckets, and the old cursor
 * continued there passes over some of them (and repeats others). The scan starts the shard again
 * from cursor 0 after a page it had to retry (stages/sinks/export.ts `shardProducts`).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Keys } from '../../lib/redis/keys.js';
import { redisProducts } from '../../stages/sinks/export.js';
import { client, randomPipeline, startRedis } from '../helpers/redis.js';
import { writeStoredProduct } from '../helpers/stored-products.js';

test('a Redis restart between two pages of the scan: every product read (the same cursor on the new process had passed over some)', async () => {
  // Every write on disk before the kill: the restarted server holds the same set, hashed anew.
  const server = await startRedis({ appendonly: true, appendfsync: 'always' });
  const redis = client(server.url);
  try {
    const keys = new Keys(randomPipeline('scan'));
    const all = Array.from({ length: 400 }, (_, i) => `p${i}`);
    for (const [i, key] of all.entries()) await writeStoredProduct(redis, keys, key, i);
    const retry = { retryForMs: 30_000, retryBaseMs: 50, retryMaxMs: 200 };
    const rescans: string[] = [];
    // The same server throughout: each product once, the scan never started again.
    const calm: string[] = [];
    for await (const p of redisProducts(redis, keys, {}, 20, retry, undefined, (tag) => rescans.push(tag))) calm.push(p.key);
    assert.equal([calm.length, new Set(calm).size, rescans], [all.length, all.length, []]);

    const seen = new Set<string>();
    let restarts = 0;
    for await (const p of redisProducts(redis, keys, {}, 20, retry, undefined, (tag) => rescans.push(tag))) {
      seen.add(p.key);
      // Once, after the first page: the next page's SSCAN goes to a new process.
      if (seen.size === 20 && restarts++ === 0) await server.restart('SIGKILL');
    }
    assert.is(restarts > 0, true, 'the server was restarted mid-scan');
    const missed = all.filter((k) => !seen.has(k));
    assert.equal(missed, [], `${missed.length} of ${all.length} products passed over`);
    assert.equal(rescans, [keys.tag], 'the scan started again once, from the first page after the restart');
  } finally {
    redis.disconnect();
    await server.close();
  }
});

test.run();
