/**
 * On a Redis Cluster (3 masters, a 3-shard pipeline), a product's vector reprocessed into another
 * category leaves the old one: vector-add-N.lua touches only the keys it is given, all under the
 * product's shard tag (one slot), so the move runs there like any add.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Shards } from '../../lib/redis/shard.js';
import { createClient } from '../../lib/redis/url.js';
import { VectorStore } from '../../stages/domain/vector-store.js';
import { RedisCluster } from '../helpers/cluster.js';
import { randomPipeline } from '../helpers/redis.js';

const cluster = await new RedisCluster({ masters: 3, replicas: 0 }).start();
const redis = createClient(cluster.url, { connectionName: 'test:vector-move' });
redis.on('error', () => {});
const unit = (...xs: number[]) => {
  const n = Math.hypot(...xs);
  return Float32Array.from(xs, (x) => x / n);
};

test('a vector moved to another category on a cluster: gone from the old one for another worker, found in the new one', async () => {
  const shards = new Shards(randomPipeline(), 3);
  const [mover, other] = [new VectorStore(redis, shards), new VectorStore(redis, shards)];
  const v = unit(0.3, -0.2, 0.9);
  const products = ['p1', 'p2', 'p3', 'p4', 'p5', 'p6'];
  assert.ok(new Set(products.map((p) => shards.shardOf(p))).size > 1, 'products on several shards');
  for (const p of products) await mover.add('A', p, unit(0.3, -0.2, 0.9 + products.indexOf(p) / 100));
  await other.sync('A');
  assert.is(other.size('A'), products.length);
  for (const p of products) await mover.add('B', p, v);
  await other.sync('A');
  await other.sync('B');
  assert.is(other.size('A'), 0, 'every one left A');
  assert.is(other.size('B'), products.length);
  assert.ok((await other.nearest('B', v, 'new', 0.92))!.score >= 0.92);
  for (const w of [mover, other]) w.close();
});

test.after(async () => {
  redis.disconnect();
  await cluster.close();
});
test.run();
