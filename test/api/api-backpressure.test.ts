/**
 * The API's backpressure against the pipeline's real backlog (an audit's findings): a backlog in
 * the stages after the input (the model stages) had never produced a 429, their `maxLag` ignored.
 * Real server, real Redis. And a bulk load under `produce --max-lag` leaves the API room.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { FastifyInstance } from 'fastify';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { buildServer } from '../../lib/api/server.js';
import type { ApiLimits } from '../../lib/api/options.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import { loadConfigFile } from '../../lib/config/load.js';
import { STAGES } from '../../stages/index.js';
import { cli, exited, rulesOnlyConfig, writeConfig } from '../helpers/pipeline.js';
import { addEntries, randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';
import { readyOrClosed } from '../helpers/api-server.js';

const { server, redis } = await redisForFile(test);
const TOKEN = 'admin-token-0123456789a';
const H = { authorization: `Bearer ${TOKEN}` };

async function serverFor(config: ResolvedConfig, limits: Partial<ApiLimits> = {}): Promise<FastifyInstance> {
  const app = await buildServer({
    config,
    tokens: [{ token: TOKEN, roles: ['admin'] }],
    logger: silentLogger,
    limits: { completionsBlockMs: 100, backpressureCacheMs: 0, backpressureStagesMs: 0, ...limits },
  });
  return readyOrClosed(app, () => waitFor('completions reader', () => app.pipeline.completions.following, 5_000));
}

const addN = (stream: string, n: number) => addEntries(redis, stream, n);

test('429 while a stage after the input is above its own maxLag (the input keeping up); the body names the stage; accepted once it drains', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  const config = rulesOnlyConfig(server.url, pipeline);
  config.stages.find((s) => s.name === 'validate')!.maxLag = 3;
  const app = await serverFor(config);
  try {
    const post = (id: string) => app.inject({ method: 'POST', url: '/v1/products', headers: H, payload: { id, title: 't' } });
    assert.is((await post('a1')).statusCode, 202);
    await addN(keys.stream('validate'), 5);
    const refused = await post('a2');
    assert.is(refused.statusCode, 429, refused.body);
    const body = refused.json() as { error: string; stage: string; lag: number; maxLag: number; message: string };
    assert.equal([body.error, body.stage, body.lag, body.maxLag], ['backlog', 'validate', 5, 3]);
    assert.match(body.message, /stage validate has a lag of 5, above its maxLag 3/);
    assert.ok(refused.headers['retry-after'], 'with Retry-After');
    const enrich = await app.inject({ method: 'POST', url: '/v1/enrich?timeout_ms=100', headers: H, payload: { id: 'a3', title: 't' } });
    assert.is(enrich.statusCode, 429, 'enrich too');
    assert.is((await app.inject({ method: 'GET', url: '/v1/products/a2', headers: H })).statusCode, 404, 'refused means not taken');
    await redis.xtrim(keys.stream('validate'), 'MAXLEN', 0);
    assert.is((await post('a2')).statusCode, 202, 'accepted once the stage drained');
  } finally {
    await app.close();
  }
});

/** A fresh rules-only pipeline whose preprocess stage has maxLag 10, its group created on the (empty) input stream. */
async function preprocessHeldAt10() {
  const config = rulesOnlyConfig(server.url, randomPipeline());
  config.stages.find((s) => s.name === 'preprocess')!.maxLag = 10;
  const input = new Keys(config.pipeline).stream('in');
  await redis.xgroup('CREATE', input, 'preprocess', '0', 'MKSTREAM');
  return { config, input };
}

test('Retry-After follows the backlog: the least while the drain rate is not known yet, the most while the lag does not fall, about excess / rate while it drains (it was 1 s whatever the backlog)', async () => {
  const { config, input } = await preprocessHeldAt10();
  await addN(input, 2_010); // lag 2,010: 2,000 over the limit, and no worker
  const limits = { retryAfterSeconds: 1, retryAfterMaxSeconds: 30 };
  const retryAfter = async (app: FastifyInstance) => {
    const r = await app.inject({ method: 'POST', url: '/v1/products', headers: H, payload: { id: 'x', title: 't' } });
    assert.is(r.statusCode, 429, r.body);
    return Number(r.headers['retry-after']);
  };
  const stalled = await serverFor(config, limits);
  try {
    assert.is(await retryAfter(stalled), 1, 'first reading: no rate yet');
    await waitFor('Retry-After at its most while the lag does not fall', async () => (await retryAfter(stalled)) === 30, 10_000, 100);
  } finally {
    await stalled.close();
  }
  const draining = await serverFor(config, limits);
  // The stage reads 20 entries every 100 ms: about 200 a second (slower on a loaded machine), so 2,000 over the limit is about 10 s away.
  const reader = setInterval(() => void redis.xreadgroup('GROUP', 'preprocess', 'c1', 'COUNT', 20, 'STREAMS', input, '>').catch(() => undefined), 100);
  const seen: number[] = [];
  try {
    await waitFor(
      'a Retry-After derived from the drain rate',
      async () => {
        const s = await retryAfter(draining);
        seen.push(s);
        return s > 1 && s < 30;
      },
      10_000,
      100,
    );
  } finally {
    clearInterval(reader);
    await draining.close();
  }
  assert.ok(seen.at(-1)! >= 3 && seen.at(-1)! <= 25, `about 2,000 / 200 per second: ${seen.join(' ')}`);
});

test('Retry-After after a burst: derived from the drain rate within 3 s of the lag starting to fall, not the most for the whole 10 s window (a soak: every 429 said 60 s while the lag fell 4,000 a second)', async () => {
  const { config, input } = await preprocessHeldAt10();
  const app = await serverFor(config, { retryAfterSeconds: 1, retryAfterMaxSeconds: 30 });
  const post = (id: string) => app.inject({ method: 'POST', url: '/v1/products', headers: H, payload: { id, title: 't' } });
  let reader: NodeJS.Timeout | undefined;
  try {
    // Readings at a low lag first (the server has been taking work), as before a burst in production.
    for (let i = 0; i < 5; i++) {
      assert.is((await post(`w${i}`)).statusCode, 202);
      await new Promise((r) => setTimeout(r, 150));
    }
    await addN(input, 2_010); // the burst: about 2,000 over the limit
    const first = await post('x');
    assert.is(first.statusCode, 429, first.body);
    // The stage reads 20 entries every 100 ms: about 200 a second, so the lag stays above the limit for about 10 s.
    reader = setInterval(() => void redis.xreadgroup('GROUP', 'preprocess', 'c1', 'COUNT', 20, 'STREAMS', input, '>').catch(() => undefined), 100);
    const seen: number[] = [];
    await waitFor(
      'a Retry-After derived from the drain rate',
      async () => {
        const r = await post('x');
        assert.is(r.statusCode, 429, r.body);
        seen.push(Number(r.headers['retry-after']));
        return seen.at(-1)! > 1 && seen.at(-1)! < 30;
      },
      3_000,
      100,
    ).catch((err: Error) => assert.unreachable(`${err.message}; Retry-After seen: ${seen.join(' ')}`));
    assert.ok(seen.at(-1)! >= 3 && seen.at(-1)! <= 25, `about 2,000 / 200 per second: ${seen.join(' ')}`);
  } finally {
    clearInterval(reader);
    await app.close();
  }
});

test('a bulk load under produce --max-lag leaves the API room: its submits are taken while the load waits; without the cap the load holds the lag above maxLag and the API answers 429', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  const file = writeConfig(pipeline, undefined, { limits: { maxLag: 100 } });
  const app = await serverFor(loadConfigFile(file, { env: { REDIS_URL: server.url }, knownKinds: Object.keys(STAGES) }));
  const lines = (prefix: string) => Array.from({ length: 300 }, (_, i) => JSON.stringify({ id: `${prefix}${i}`, title: `item ${i}` })).join('\n');
  // No workers: the input lag is what the loads put in (the group does not exist yet: the stream's length).
  const load = (extra: string[], input: string) =>
    cli(['produce', '--config', file, '--batch', '10', '--backpressure-poll', '20', '--rejects', '/dev/null', ...extra], server.url, { input });
  const post = (id: string) => app.inject({ method: 'POST', url: '/v1/products', headers: H, payload: { id, title: 't' } });
  const waiting = (child: ReturnType<typeof load>, what: RegExp) =>
    waitFor('the load to wait', () => what.test(child.output()), 20_000).catch((e: Error) => {
      throw new Error(`${e.message}: ${child.output()}`);
    });
  try {
    const capped = load(['--max-lag', '20'], lines('c'));
    await waiting(capped, /produce: waiting: the input lag \d+ is above --max-lag 20 /);
    const held = await redis.xlen(keys.stream('in'));
    assert.ok(held > 20 && held <= 30, `held after the batch that crossed --max-lag (${held})`);
    assert.is((await post('api1')).statusCode, 202, 'taken while the load waits');
    capped.kill();
    await exited(capped);
    const uncapped = load([], lines('u'));
    await waiting(uncapped, /produce: waiting: the input lag \d+ is above limits.maxLag 100 /);
    assert.is((await post('api2')).statusCode, 429, 'refused while the load holds the lag above maxLag');
    uncapped.kill();
    await exited(uncapped);
  } finally {
    await app.close();
  }
});

test.run();
