/**
 * `pipeline serve` on its own ACL user (`<pipeline>-api`) in front of a SHARDED pipeline (3 shards
 * on one redis-server): records submitted to every shard are stored, and the console's actions on
 * a shard other than 0 (a dead letter replayed, one purged, a review decision with its label in
 * that shard's `{p:N}:labels`, a stage's backlog on that shard purged) run with nothing refused (Redis' ACL LOG names none for the user).
 */
import { rmSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { silentLogger } from '../../lib/observe/logger.js';
import { configShards } from '../../lib/redis/shard.js';
import { encodeEnvelope, newEnvelope, type Envelope } from '../../lib/stream/codec.js';
import { addDeadLetter } from '../helpers/console.js';
import { rulesOnlyConfig, startWorkers, stopAll, writeConfig } from '../helpers/pipeline.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';
import { aclRefusals, applyApiUser, purgeThroughApi, serveAsApiUser, type ServedApi } from '../helpers/serve-as-user.js';

const server = await startRedis();
const admin = client(server.url);
const TOKEN = 'serve-shards-token-0123456789';

test('sharded: serve as the API user: submit on every shard, and DLQ replay / purge, a review decision and a stage purge on shard 1 and 2, nothing refused', async () => {
  const pipeline = randomPipeline('as');
  const configFile = writeConfig(pipeline, undefined, { shards: 3 });
  const { apiUrl, user } = await applyApiUser(configFile, server.url, pipeline);

  const config = { ...rulesOnlyConfig(server.url, pipeline), shards: 3 };
  const shards = configShards(config);
  const idOn = (n: number, prefix: string): string => {
    for (let i = 0; ; i++) if (shards.shardOf(`${prefix}${i}`) === n) return `${prefix}${i}`;
  };
  const workers = startWorkers(config);
  let served: ServedApi | undefined;
  try {
    served = await serveAsApiUser(config, apiUrl, TOKEN, silentLogger);
    const { call } = served;
    assert.match(String(await admin.client('LIST')), new RegExp(`name=api:done:2 .*user=${user} `), 'the shard readers are the API user');

    // The API: one record per shard, each stored on its shard.
    const ids = [0, 1, 2].map((n) => idOn(n, 'sub'));
    await call(
      '/v1/products',
      ids.map((id) => ({ id, title: 'SanDisk Ultra 64GB USB 3.0 Flash Drive SDCZ48-064G-A46' })),
    );
    for (const [n, id] of ids.entries()) assert.is((await call(`/v1/products/${id}?wait_ms=10000`)).status, 'stored', `shard ${n}`);

    // The console's actions on shards 1 and 2.
    const replayKey = idOn(2, 'dead');
    const replayed = await addDeadLetter(admin, shards.shard(2), { id: replayKey, title: 'Koss EQ50 3-Band Stereo Equalizer' });
    const purged = await addDeadLetter(admin, shards.shard(1), { id: idOn(1, 'gone'), title: 'Koss EQ50 3-Band Stereo Equalizer' });
    const reviewKey = idOn(1, 'rev');
    const env: Envelope = {
      ...newEnvelope({ id: reviewKey, title: 'Koss EQ50 3-Band Stereo Equalizer' }),
      outputs: { preprocess: { category: 'audio', confidence: 0.4 } },
      hops: [{ stage: 'preprocess', consumer: 'c', readAt: 1, doneAt: 2, batch: 1 }],
    };
    const entry = (await admin.xadd(shards.shard(1).stream('review'), '*', 'k', reviewKey, 'e', encodeEnvelope(env)))!;
    await waitFor('the review item listed', async () => (await call('/console/api/review')).items.length === 1, 10_000);
    assert.is((await call('/console/api/dlq/replay', { ids: [`2/${replayed}`] })).replayed.length, 1);
    assert.is((await call('/console/api/dlq/purge', { ids: [`1/${purged}`] })).purged, 1);
    await call(`/console/api/review/${entry}?shard=1`, { category: 'audio', fields: { brand: 'Koss' } });
    await waitFor(
      'the replayed and the reviewed product stored on their shards',
      async () =>
        (await admin.hget(shards.shard(1).product(reviewKey), 'reviewedBy')) === 'alice' && (await admin.exists(shards.shard(2).product(replayKey))) === 1,
      15_000,
    );
    assert.is(await admin.xlen(shards.shard(1).extra('labels')), 1, "the label in shard 1's stream");
    // The console's Purge of shard 1's backlog only (stage-purge-N.lua on {p:1}:*).
    const preprocess = config.stages.find((s) => s.name === 'preprocess')!;
    const { dry, purged: stagePurged } = await purgeThroughApi(served, admin, preprocess, shards.shard(1).stream('in'), 2, 1);
    assert.equal(Object.keys(dry.until), [shards.shard(1).stream('in')], 'only shard 1 bounded');
    assert.equal(stagePurged.shards, [{ shard: 1, stream: shards.shard(1).stream('in'), purged: 2 }]);
    assert.equal(await aclRefusals(admin, user), [], 'Redis refused the API user nothing');
  } finally {
    await served?.close();
    await stopAll(workers);
    rmSync(configFile, { force: true });
  }
});

test.after(async () => {
  admin.disconnect();
  await server.close();
});

test.run();
