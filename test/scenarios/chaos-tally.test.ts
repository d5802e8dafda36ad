/**
 * The count behind `npm run chaos` and `npm run soak` (scripts/scenarios/chaos-tally.ts) on a real
 * redis-server: every record those runs make is good, so one dead-lettered as bad is lost unless a
 * model stage (which may refuse a record for good) is in the config.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import type { PipelineConfig } from '../../lib/config/types.js';
import { configShards } from '../../lib/redis/shard.js';
import { encodeEnvelope, FIELD_ENVELOPE, FIELD_KEY, newEnvelope, type Envelope } from '../../lib/stream/codec.js';
import { deadLetterForward, type DeadLetterReason } from '../../lib/stream/deadletter.js';
import { hasModelStage, tallyChaos } from '../../scripts/scenarios/chaos-tally.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';

const ROOT = resolve(import.meta.dirname, '../..');
const { server, redis } = await redisForFile(test);

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

/** The record `key` as stage `from` hands it to the store: produced once (its trace id and origin), hopped through `from`. */
function forwarded(key: string, origin: string, from: string): Envelope {
  const hop = { stage: from, consumer: `${from}-1`, readAt: 1, doneAt: 2, batch: 1 };
  return { ...newEnvelope({ id: key, title: key }), origin, hops: [hop] };
}

test('chaos/soak tally: a record a stage forwarded twice (one lineage in two store-stream entries) is counted in forwardedTwice, although copies (by lineage) stays 1', async () => {
  const cfg = config('config/rules-only.json');
  const shards = await seed(cfg, 4, 'c3', 'permanent_error');
  const store = (key: string) => shards.keysFor(key).stream('store');
  const add = (env: Envelope) => redis.xadd(store(env.key), '*', FIELD_KEY, env.key, FIELD_ENVELOPE, encodeEnvelope(env));
  // c0 forwarded once; c1 forwarded twice by validate (the same envelope under a second entry);
  // c2 produced twice (two lineages, one entry each): a second production, not a second forward.
  await add(forwarded('c0', '1-0', 'preprocess'));
  const twice = forwarded('c1', '1-1', 'validate');
  await add(twice);
  await add(twice);
  await add(forwarded('c2', '1-2', 'preprocess'));
  await add(forwarded('c2', '1-3', 'preprocess'));
  const t = await tallyChaos(redis, cfg, shards, 4, { badAllowed: false });
  assert.is(t.duplicated, 0, 'copies is 1 for every stored record: the store counts productions');
  assert.is(t.forwardedTwice, 1, 'c1: one production in two store entries');
  assert.is(t.unchecked, 0);
  assert.is(t.checked, 5);
});

test('chaos/soak tally: entries trimmed from a stage stream are counted as unchecked', async () => {
  const cfg = config('config/rules-only.json');
  const shards = await seed(cfg, 2, 'c1', 'permanent_error');
  const store = shards.keysFor('c0').stream('store');
  const env = forwarded('c0', '1-0', 'preprocess');
  for (let i = 0; i < 3; i++) await redis.xadd(store, '*', FIELD_KEY, 'c0', FIELD_ENVELOPE, encodeEnvelope(env));
  await redis.xtrim(store, 'MAXLEN', 1);
  const t = await tallyChaos(redis, cfg, shards, 2, { badAllowed: false });
  assert.is(t.unchecked, 2, 'two of its three entries trimmed');
  assert.is(t.checked, 1);
  assert.is(t.forwardedTwice, 0, 'what is left holds c0 once');
});

test.run();
