/**
 * The count behind `npm run chaos` and `npm run soak` (scripts/commands/chaos-tally.ts) on a real
 * redis-server: every record those runs make is good, so one dead-lettered as bad is lost unless a
 * model stage (which may refuse a record for good) is in the config.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../lib/config/load.js';
import type { PipelineConfig } from '../lib/config/types.js';
import { configShards } from '../lib/redis/shard.js';
import { FIELD_KEY } from '../lib/stream/codec.js';
import { deadLetterForward, type DeadLetterReason } from '../lib/stream/deadletter.js';
import { hasModelStage, tallyChaos } from '../scripts/commands/chaos-tally.js';
import { client, randomPipeline, startRedis } from './helpers/redis.js';

const ROOT = resolve(import.meta.dirname, '..');
const server = await startRedis();
const redis = client(server.url);

function config(file: string) {
  const raw = JSON.parse(readFileSync(resolve(ROOT, file), 'utf8')) as PipelineConfig;
  return resolveConfig({ ...raw, pipeline: randomPipeline('tally') }, file, { env: { REDIS_URL: server.url } });
}

/** Records c0..c<n-1>: each stored once except `dead`, which a stage dead-lettered with `reason`. */
async function seed(cfg: ReturnType<typeof config>, n: number, dead: string, reason: DeadLetterReason) {
  const shards = configShards(cfg);
  for (let i = 0; i < n; i++) {
    const key = `c${i}`;
    if (key === dead) continue;
    await redis.hset(shards.keysFor(key).product(key), 'copies', '1');
    await redis.sadd(shards.keysFor(key).products, key);
  }
  const keys = shards.keysFor(dead);
  const dl = deadLetterForward({ id: '1-1', fields: [Buffer.from(FIELD_KEY), Buffer.from(dead)] }, 'validate', keys.stream('validate'), keys.dlq, {
    reason,
    error: 'refused',
    deliveries: 1,
  });
  await redis.xadd(keys.dlq, '*', ...(dl.fields as string[]));
  return shards;
}

test('chaos/soak tally, rules-only config: a good record dead-lettered as permanent_error is lost and an unexpected DLQ entry', async () => {
  const cfg = config('config/rules-only.json');
  assert.is(hasModelStage(cfg), false);
  const shards = await seed(cfg, 10, 'c3', 'permanent_error');
  const t = await tallyChaos(redis, cfg, shards, 10, { badAllowed: hasModelStage(cfg) });
  assert.is(t.stored, 9);
  assert.is(t.dlqBad, 1);
  assert.is(t.lost, 1, 'c3 was never stored: lost, although the DLQ calls it bad');
  assert.is(t.dlqUnexpected, 1);
});

test('chaos/soak tally, rules-only config: no_route is lost too', async () => {
  const cfg = config('config/rules-only.json');
  const shards = await seed(cfg, 5, 'c0', 'no_route');
  const t = await tallyChaos(redis, cfg, shards, 5, { badAllowed: hasModelStage(cfg) });
  assert.is(t.lost, 1);
  assert.is(t.dlqUnexpected, 1);
});

test('chaos/soak tally, model config: a record a stage refused for good is counted apart, not lost', async () => {
  const cfg = config('config/pipeline.json');
  assert.is(hasModelStage(cfg), true);
  const shards = await seed(cfg, 10, 'c7', 'permanent_error');
  const t = await tallyChaos(redis, cfg, shards, 10, { badAllowed: hasModelStage(cfg) });
  assert.is(t.stored, 9);
  assert.is(t.dlqBad, 1);
  assert.is(t.lost, 0);
  assert.is(t.dlqUnexpected, 0);
});

test('chaos/soak tally: soak ids (prefix s), a record neither stored nor dead-lettered is lost', async () => {
  const cfg = config('config/pipeline.json');
  const shards = configShards(cfg);
  for (const key of ['s0', 's2']) await redis.hset(shards.keysFor(key).product(key), 'copies', '1');
  const t = await tallyChaos(redis, cfg, shards, 3, { prefix: 's', badAllowed: true });
  assert.is(t.stored, 2);
  assert.is(t.lost, 1);
});

test.after(async () => {
  redis.disconnect();
  await server.close();
});

test.run();
