/**
 * `webhooks.lag` on a real Redis Cluster (3 masters, loopback; test/helpers/cluster.ts): `pipeline
 * monitor` sends the webhook group's lag summed over the shards of a pipeline whose `{p:N}:done`
 * streams live on different masters, while its receiver answers 503 (test/helpers/webhook-lag.ts).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Keys } from '../../lib/redis/keys.js';
import { keySlot } from '../../lib/redis/shard.js';
import { createClient } from '../../lib/redis/url.js';
import { RedisCluster } from '../helpers/cluster.js';
import { randomPipeline } from '../helpers/redis.js';
import { webhookLagSeen } from '../helpers/webhook-lag.js';

const cluster = await new RedisCluster({ masters: 3, replicas: 0 }).start();
const redis = createClient(cluster.url);

test('pipeline monitor on a Redis Cluster sends webhooks.lag, the webhook group’s lag summed over shards on different masters', async () => {
  const topology = await cluster.topology();
  const masterOf = (key: string) => topology.find((n) => n.role === 'master' && n.slots.some(([a, b]) => keySlot(key) >= a && keySlot(key) <= b))?.port;
  const masters = (p: string) => new Set(Keys.shards(p, 3).map((k) => masterOf(k.done))).size;
  // A pipeline whose three shards live on three masters: the sum crosses nodes.
  let pipeline = randomPipeline('whc');
  while (masters(pipeline) < 3) pipeline = randomPipeline('whc');
  const seen = await webhookLagSeen(redis, cluster.url, { shards: 3, pipeline });
  assert.ok(seen.lag > 0 && seen.lag < 60, `lag ${seen.lag}`);
  assert.is(seen.lag, 60 - seen.pending);
  assert.is(seen.lines.filter((l) => l.name === 'webhooks.lag' && l.tags.webhook === 'app').at(-1)?.value, seen.lag);
  assert.not.ok(seen.lines.some((l) => l.name === 'webhooks.lag' && l.tags.webhook === 'late'));
  assert.is(seen.exit, 0, seen.output);
});

test.after(async () => {
  redis.disconnect();
  await cluster.close();
});
test.run();
