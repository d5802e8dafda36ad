/**
 * `pipeline serve` on its own ACL user (`<pipeline>-api`) in front of a SHARDED pipeline (3 shards
 * on one redis-server): records submitted to every shard are stored, and the console's actions on
 * a shard other than 0 (a dead letter replayed, one purged, a review decision with its label in
 * that shard's `{p:N}:labels`) run with nothing refused (Redis' ACL LOG names none for the user).
 */
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { FastifyInstance } from 'fastify';
import { silentLogger } from '../lib/observe/logger.js';
import { API_REDIS_URL_ENV } from '../lib/ops/acl-api.js';
import { configShards } from '../lib/redis/shard.js';
import { encodeEnvelope, newEnvelope, type Envelope } from '../lib/stream/codec.js';
import { startServer } from '../scripts/commands/serve.js';
import { addDeadLetter } from './helpers/console.js';
import { cli, exited, rulesOnlyConfig, startWorkers, stopAll, writeConfig } from './helpers/pipeline.js';
import { client, randomPipeline, startRedis, waitFor } from './helpers/redis.js';

const server = await startRedis();
const admin = client(server.url);
const TOKEN = 'serve-shards-token-0123456789';

/** Redis' ACL LOG entries of `user` (each refused command or key). */
async function refusals(user: string): Promise<string[]> {
  const log = (await admin.call('ACL', 'LOG', '128')) as unknown[][];
  return log
    .map((e) => new Map(Array.from({ length: e.length / 2 }, (_, i) => [String(e[2 * i]), e[2 * i + 1]] as const)))
    .filter((m) => m.get('username') === user)
    .map((m) => `${String(m.get('reason'))} ${String(m.get('object'))}`);
}

test('sharded: serve as the API user: submit on every shard, and DLQ replay / purge and a review decision on shard 1 and 2, nothing refused', async () => {
  const pipeline = randomPipeline('as');
  const configFile = writeConfig(pipeline, undefined, { shards: 3 });
  const envFile = join(tmpdir(), `${pipeline}-users.env`);
  const apply = cli(['--config', configFile, 'acl', '--apply', '--write-env', envFile], server.url);
  assert.is(await exited(apply), 0, apply.output());
  const line = readFileSync(envFile, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${API_REDIS_URL_ENV}=`))!;
  const apiUrl = line.slice(API_REDIS_URL_ENV.length + 1);
  const user = `${pipeline}-api`;

  const config = { ...rulesOnlyConfig(server.url, pipeline), shards: 3 };
  const shards = configShards(config);
  const idOn = (n: number, prefix: string): string => {
    for (let i = 0; ; i++) if (shards.shardOf(`${prefix}${i}`) === n) return `${prefix}${i}`;
  };
  const workers = startWorkers(config);
  const saved = { url: process.env[API_REDIS_URL_ENV], tokens: process.env.API_TOKENS };
  process.env[API_REDIS_URL_ENV] = apiUrl;
  process.env.API_TOKENS = `read+submit+admin@alice:${TOKEN}`;
  let app: FastifyInstance | undefined;
  try {
    app = await startServer(config, { host: '127.0.0.1', port: 0, logger: silentLogger });
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    const call = async (path: string, body?: unknown) => {
      const res = await fetch(`${base}${path}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      assert.ok(res.status < 300, `${path}: ${res.status} ${text}`);
      return JSON.parse(text);
    };
    await waitFor('ready', async () => (await fetch(`${base}/readyz`)).status === 200, 10_000);
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
    assert.equal(await refusals(user), [], 'Redis refused the API user nothing');
  } finally {
    await app?.close();
    await stopAll(workers);
    for (const [k, v] of [
      [API_REDIS_URL_ENV, saved.url],
      ['API_TOKENS', saved.tokens],
    ] as const)
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    rmSync(envFile, { force: true });
    rmSync(configFile, { force: true });
  }
});

test.after(async () => {
  admin.disconnect();
  await server.close();
});

test.run();
