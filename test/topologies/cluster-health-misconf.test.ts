/**
 * `pipeline health` on a Redis Cluster one of whose masters cannot persist (MISCONF): every master
 * is asked (lib/ops/write-refusal.ts), so the refusal is found whichever node a keyless PING would
 * have gone to; the others' writes are taken. Health says Redis first, as on a single Redis
 * (test/data-safety/health-misconf.test.ts).
 */
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import type { PipelineConfig } from '../../lib/config/types.js';
import { consumerHealth } from '../../lib/ops/consumer-health.js';
import { writeRefusal } from '../../lib/ops/write-refusal.js';
import { keySlot } from '../../lib/redis/shard.js';
import { createClient } from '../../lib/redis/url.js';
import { RedisCluster } from '../helpers/cluster.js';
import { allowWrites, refuseWrites } from '../helpers/misconf.js';
import { FAST } from '../helpers/pipeline.js';
import { randomPipeline } from '../helpers/redis.js';

const RAW = JSON.parse(readFileSync(new URL('../../config/rules-only.json', import.meta.url), 'utf8')) as PipelineConfig;
const cluster = await new RedisCluster({ masters: 3, replicas: 0 }).start();
const redis = createClient(cluster.url, { connectionName: 'test:check', maxRetriesPerRequest: null });
redis.on('error', () => {});

test('one master of three refusing writes with MISCONF is found by every probe (each master asked), and health says Redis first', async () => {
  const config = resolveConfig({ ...RAW, pipeline: randomPipeline('chm'), shards: 3, defaults: { ...RAW.defaults, ...FAST } }, 'test', {
    env: { REDIS_URL: cluster.url },
  });
  assert.is(await writeRefusal(redis), undefined, 'every master takes writes');
  // The master of the helper's own keys' slot (`{chm}misconf:*`) is the one made to refuse writes.
  const o = { keyTag: 'chm' };
  const admin = cluster.node(await cluster.masterOf(keySlot('{chm}')));
  try {
    await refuseWrites(admin, o);
    for (let i = 0; i < 5; i++) assert.match((await writeRefusal(redis)) ?? 'none', /^MISCONF /, `probe ${i}`);
    const h = await consumerHealth(redis, config, 'preprocess', { host: 'nowhere', pid: 1 });
    assert.equal([h.ok, h.redisRefusesWrites], [false, true], JSON.stringify(h));
    assert.match(h.reason!, /^Redis refuses every write: it cannot persist to disk/);
    await allowWrites(admin, o);
    assert.is(await writeRefusal(redis), undefined, 'writes taken again');
  } finally {
    await allowWrites(admin, o).catch(() => undefined);
    admin.disconnect();
  }
});

test.after(async () => {
  redis.disconnect();
  await cluster.close();
});

test.run();
