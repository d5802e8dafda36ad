/**
 * lib/redis/replicas.ts, the replica count "auto" waits by (real servers: a master and its
 * replica): read from INFO replication per connection; a lower count on the same connection is
 * believed only after `dropAfterMs` (a master failed over in place loses its replica before its
 * clients hear of it), at once on a new connection. And the config's `api.submitWaitReplicas`:
 * "auto" or an integer from 0, anything else a ConfigError naming the field.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import type { PipelineConfig } from '../../lib/config/types.js';
import { ConfigError } from '../../lib/core/errors.js';
import { ReplicaWait } from '../../lib/redis/replicas.js';
import { client, waitFor } from '../helpers/redis.js';
import { ReplicatedPair } from '../helpers/replica.js';

const pair = await ReplicatedPair.start();

test('auto: 1 while the master has a replica; a drop on the same connection believed after dropAfterMs, on a new connection at once; a number as given', async () => {
  const redis = client(pair.master.url);
  try {
    const sticky = new ReplicaWait('auto', { checkMs: 0, dropAfterMs: 3_600_000 });
    const dropping = new ReplicaWait('auto', { checkMs: 0, dropAfterMs: 300 });
    assert.is(await sticky.forKey(redis, 'k'), 1);
    assert.is(await dropping.forKey(redis, 'k'), 1);
    assert.is(await new ReplicaWait(2).forKey(redis, 'k'), 2, 'a number as given');
    assert.is(await new ReplicaWait(0).forKey(redis, 'k'), 0);
    await pair.replica.stop();
    await waitFor('the master lost its replica', async () => /connected_slaves:0/.test(await pair.admin.info('replication')), 20_000);
    assert.is(await dropping.forKey(redis, 'k'), 1, 'a lower reading is not believed at once');
    await waitFor('the drop believed after dropAfterMs', async () => (await dropping.forKey(redis, 'k')) === 0, 5_000);
    assert.is(await sticky.forKey(redis, 'k'), 1, 'still waited for on this connection (dropAfterMs not over)');
    // A new connection (a reconnect: maybe another master) is read afresh.
    const id = Number(await redis.client('ID'));
    await pair.admin.client('KILL', 'ID', String(id));
    await waitFor('reconnected', async () => Number(await redis.client('ID').catch(() => id)) !== id, 10_000);
    assert.is(await sticky.forKey(redis, 'k'), 0, 'read afresh on the new connection');
  } finally {
    redis.disconnect();
  }
});

test('api.submitWaitReplicas: "auto" (the default) or an integer from 0; another value is a ConfigError naming it', () => {
  const raw = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../config/rules-only.json'), 'utf8')) as PipelineConfig;
  const load = (v: unknown) => resolveConfig({ ...raw, pipeline: 'cfg', api: { submitWaitReplicas: v } } as PipelineConfig, 'test', { env: {} });
  assert.is(resolveConfig({ ...raw, pipeline: 'cfg' }, 'test', { env: {} }).api.submitWaitReplicas, 'auto');
  assert.is(load('auto').api.submitWaitReplicas, 'auto');
  assert.is(load(0).api.submitWaitReplicas, 0);
  assert.is(load(2).api.submitWaitReplicas, 2);
  for (const bad of ['always', '1', -1, 1.5, true, null]) {
    try {
      load(bad);
      assert.unreachable(`${JSON.stringify(bad)} accepted`);
    } catch (err) {
      assert.instance(err, ConfigError, String(err));
      assert.match((err as Error).message, /api\.submitWaitReplicas/);
      assert.match((err as Error).message, /expected "auto" or an integer from 0/);
    }
  }
});

test.after(() => pair.close());

test.run();
