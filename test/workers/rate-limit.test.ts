/**
 * A stage's `rateLimit` (lib/worker/rate-gate.ts, lib/lua/rate-limit-1.lua) on a real redis-server:
 * the token bucket's arithmetic (grant, partial grant, wait time, refill, returned tokens, its
 * size as the largest burst); two workers of one stage share one limit and every record arrives
 * once; a rate-limited stage behind a stage of its process is not fused, so still limited; the
 * config errors name the field.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import { fusedRoutes } from '../../lib/config/fusion-plan.js';
import type { StageOptions } from '../../lib/config/types.js';
import { createLogger, silentLogger } from '../../lib/observe/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import { encodeEnvelope, newEnvelope } from '../../lib/stream/codec.js';
import { takeTokens, tokensUsed } from '../../lib/stream/rate-bucket.js';
import { StageProcess } from '../../lib/worker/process.js';
import { ok, type StageFactory } from '../../lib/worker/stage.js';
import { Worker } from '../../lib/worker/worker.js';
import { renderFrame, TopSampler } from '../../scripts/commands/top.js';
import { statusOutput } from '../../scripts/commands/status.js';
import { FAST } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';
import { listener } from '../helpers/statsd.js';

const { server, redis } = await redisForFile(test);
const statsd = await listener();
/** A generous deadline for runs whose floor is a few seconds. */
const DEADLINE_MS = 30_000;

const pass: StageFactory = () => ({ kind: 'pass', process: async (batch) => batch.map(() => ok({ passed: true })) });
const kinds = { pass };

/** The server's clock in ms (the bucket's). */
async function serverNow(): Promise<number> {
  const [s, us] = await redis.time();
  return Number(s) * 1000 + Math.floor(Number(us) / 1000);
}

test('the bucket: grants what it holds, up to what is asked; says how long the rest takes; refills by the server clock; returned tokens come back; never holds more than its size', async () => {
  const key = new Keys(randomPipeline('rl')).rateLimit('work');
  const limit = { records: 10, perMs: 1000 }; // 0.01 token per ms: 100 ms per token

  assert.equal(await takeTokens(redis, key, limit, 4), { granted: 4, waitMs: 0 }, 'a new bucket is full');
  const partial = await takeTokens(redis, key, limit, 10);
  assert.is(partial.granted, 6, 'the 6 left (a partial grant)');
  assert.ok(partial.waitMs > 350 && partial.waitMs <= 400, `the other 4 take ~400 ms: ${partial.waitMs}`);
  const none = await takeTokens(redis, key, limit, 64);
  assert.is(none.granted, 0);
  assert.ok(none.waitMs > 900 && none.waitMs <= 1000, `64 wanted, the bucket holds 10: a full refill, ~1000 ms: ${none.waitMs}`);
  const ttl = await redis.pttl(key);
  assert.ok(ttl > 0 && ttl <= 2 * limit.perMs, `the bucket expires after two windows: ${ttl}`);

  // Refill: half a window ago, empty.
  await redis.hset(key, 't', '0', 'ts', String((await serverNow()) - 500));
  const refilled = await takeTokens(redis, key, limit, 64);
  assert.is(refilled.granted, 5, 'half a window refills half the bucket');
  assert.ok(refilled.waitMs > 900 && refilled.waitMs <= 1000, `then the whole bucket is ~1000 ms away: ${refilled.waitMs}`);

  // Idle for long: never more than its size (the largest burst).
  await redis.hset(key, 't', '0', 'ts', String((await serverNow()) - 60_000));
  assert.is((await takeTokens(redis, key, limit, 64)).granted, 10);

  // Tokens taken and not used are put back first (an empty bucket, 3 returned: 3 granted), capped at the size.
  await redis.hset(key, 't', '0', 'ts', String(await serverNow()));
  assert.is((await takeTokens(redis, key, limit, 64, 3)).granted, 3);
  await redis.del(key);
  assert.is((await takeTokens(redis, key, limit, 64, 50)).granted, 10, 'a full bucket does not grow past its size');

  // Another limit on a bucket: exactly one token after one refill period (no float shortfall).
  await redis.hset(key, 't', '0', 'ts', String((await serverNow()) - 100));
  assert.is((await takeTokens(redis, key, limit, 1)).granted, 1);
});

test("the bucket counts the tokens it handed out (n: granted minus returned; the autoscaler's signal), read without taking any", async () => {
  const key = new Keys(randomPipeline('rln')).rateLimit('work');
  const limit = { records: 10, perMs: 60_000 }; // no refill to speak of within the test
  assert.is(await tokensUsed(redis, key), 0, 'no bucket yet: none');
  await takeTokens(redis, key, limit, 4);
  assert.is((await takeTokens(redis, key, limit, 10)).granted, 6);
  assert.is(await tokensUsed(redis, key), 10);
  const before = await redis.hgetall(key);
  assert.is(await tokensUsed(redis, key), 10);
  assert.equal(await redis.hgetall(key), before, 'reading takes nothing, writes nothing');
  assert.is((await takeTokens(redis, key, limit, 5, 3)).granted, 3, 'the 3 put back, granted again');
  assert.is(await tokensUsed(redis, key), 10, '3 returned, 3 granted: still 10 used');
});

test('config: rateLimit is checked, each error names its field; perMs defaults to 1000; no rateLimit is unlimited', () => {
  const cfg = (rateLimit: unknown) =>
    resolveConfig(
      { pipeline: 'p', input: 'in', stages: [{ name: 'work', kind: 'pass', input: 'in', rateLimit }], routes: { work: [{ to: 'review' }] } },
      'test',
      { env: {} },
    );
  const cases: [unknown, RegExp][] = [
    [{ records: 0 }, /stages\[0\]\.rateLimit\.records.*expected an integer from 1/],
    [{ records: -5, perMs: 1000 }, /stages\[0\]\.rateLimit\.records/],
    [{ records: 2.5 }, /stages\[0\]\.rateLimit\.records.*2\.5/],
    [{ records: '50' }, /stages\[0\]\.rateLimit\.records/],
    [{ records: 50, perMs: 0 }, /stages\[0\]\.rateLimit\.perMs.*expected an integer from 1/],
    [{ records: 50, perMs: 0.5 }, /stages\[0\]\.rateLimit\.perMs/],
    [{ perMs: 1000 }, /stages\[0\]\.rateLimit\.records.*required/],
    [{ records: 50, per: 1000 }, /stages\[0\]\.rateLimit\.per\b.*unknown key/],
    [50, /stages\[0\]\.rateLimit.*expected an object/],
  ];
  for (const [value, message] of cases) assert.throws(() => cfg(value), message, JSON.stringify(value));
  assert.equal(cfg({ records: 50 }).stages[0]!.rateLimit, { records: 50, perMs: 1000 });
  assert.equal(cfg({ records: 3, perMs: 250 }).stages[0]!.rateLimit, { records: 3, perMs: 250 });
  assert.is(cfg(undefined).stages[0]!.rateLimit, undefined);
  assert.is(cfg(undefined).stages[0]!.rateLimitMaxWaitMs, 1000);
});

test('two workers of one stage share its limit (40 per second): 160 records take at least 3 s, each arrives once; the wait is logged once per consumer and counted', async () => {
  const pipeline = randomPipeline('rl2');
  const keys = new Keys(pipeline);
  const defaults: Partial<StageOptions> = { ...FAST, batchSize: 16, rateLimitMaxWaitMs: 200 };
  const config = resolveConfig(
    {
      pipeline,
      input: 'in',
      streams: { terminal: ['out'] },
      defaults,
      metrics: { enabled: true, host: '127.0.0.1', port: statsd.port, flushIntervalMs: 20 },
      stages: [{ name: 'work', kind: 'pass', input: 'in', rateLimit: { records: 40, perMs: 1000 } }],
      routes: { work: [{ to: 'out' }] },
    },
    'test',
    { env: { REDIS_URL: server.url } },
  );
  const p = redis.pipeline();
  for (let i = 0; i < 160; i++) p.xadd(keys.stream('in'), '*', 'k', `p${i}`, 'e', encodeEnvelope(newEnvelope({ id: `p${i}`, title: `item ${i}` })));
  await p.exec();
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({}, 'info', (l) => lines.push(JSON.parse(l) as Record<string, unknown>));
  const started = performance.now();
  const workers = [0, 1].map((index) => new Worker({ config, stage: 'work', stages: kinds, index, logger }));
  const runs = workers.map((w) => w.run());
  let elapsed: number;
  try {
    await waitFor('160 in out', async () => (await redis.xlen(keys.stream('out'))) >= 160, DEADLINE_MS);
    elapsed = performance.now() - started;
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await Promise.all(runs);
  }
  // 40 at once (a full bucket), then 120 at 40 per second.
  assert.ok(elapsed >= 2900, `160 records at 40/s (burst 40) take >= 3 s, took ${Math.round(elapsed)} ms`);
  const entries = (await redis.xrange(keys.stream('out'), '-', '+')) as [string, string[]][];
  const ids = entries.map(([, f]) => f[f.indexOf('k') + 1]);
  assert.is(ids.length, 160, 'nothing more');
  assert.is(new Set(ids).size, 160, 'each record once');
  assert.is(workers.filter((w) => w.consumer.processed > 0).length, 2, 'both workers processed some');
  const limited = lines.filter((l) => l.event === 'stage.rate_limited');
  // Once per consumer when it starts waiting (again only after a whole window without a wait: a machine
  // stalled that long may say it twice), never per batch (at least 10 batches of 16 waited here).
  assert.ok(limited.length >= 1 && limited.length <= 4, `stage.rate_limited once per limited consumer, not per batch: ${limited.length}`);
  assert.equal([limited[0]!.stage, limited[0]!.records, limited[0]!.perMs], ['work', 40, 1000]);
  // status --json, the status table and top show the limit.
  const json = JSON.parse((await statusOutput(redis, config, true)).text) as { rateLimits: unknown };
  assert.equal(json.rateLimits, [{ stage: 'work', records: 40, perMs: 1000, perShard: false }]);
  assert.match((await statusOutput(redis, config)).text, /\nrate limited: work 40 per 1000 ms\n/);
  assert.match(renderFrame(await new TopSampler(redis, config, 10).frame(), 1000), /\nrate limited: work 40 per 1000 ms\n/);
  await waitFor(
    'ratelimit.waited_ms counted',
    () => statsd.lines.some((l) => l.name === 'ratelimit.waited_ms' && l.tags.stage === 'work' && l.value > 0),
    5_000,
  );
});

test('a rate-limited stage behind a stage of its process is not fused: its records go through its stream and its limit holds', async () => {
  const pipeline = randomPipeline('rlf');
  const keys = new Keys(pipeline);
  const raw = (rateLimit?: { records: number; perMs: number }) => ({
    pipeline,
    input: 'in',
    streams: { terminal: ['out'] },
    defaults: { ...FAST, batchSize: 20, rateLimitMaxWaitMs: 200 },
    stages: [
      { name: 'a', kind: 'pass', input: 'in', process: 'both' },
      { name: 'b', kind: 'pass', process: 'both', ...(rateLimit ? { rateLimit } : {}) },
    ],
    routes: { a: [{ to: 'b' }], b: [{ to: 'out' }] },
  });
  const env = { env: { REDIS_URL: server.url } };
  assert.equal(fusedRoutes(resolveConfig(raw(), 'test', env)), [{ from: 'a', to: 'b' }], 'without a limit, a→b runs fused');
  const config = resolveConfig(raw({ records: 20, perMs: 1000 }), 'test', env);
  assert.equal(fusedRoutes(config), [], 'with a limit on b, nothing is fused');

  const p = redis.pipeline();
  for (let i = 0; i < 60; i++) p.xadd(keys.stream('in'), '*', 'k', `p${i}`, 'e', encodeEnvelope(newEnvelope({ id: `p${i}`, title: `item ${i}` })));
  await p.exec();
  const started = performance.now();
  const proc = new StageProcess({ config, stages: ['a', 'b'], kinds, logger: silentLogger });
  const running = proc.run();
  let elapsed: number;
  try {
    await waitFor('60 in out', async () => (await redis.xlen(keys.stream('out'))) >= 60, DEADLINE_MS);
    elapsed = performance.now() - started;
  } finally {
    await proc.stop();
    await running;
  }
  // 20 at once, then 40 at 20 per second.
  assert.ok(elapsed >= 1900, `60 records through b at 20/s (burst 20) take >= 2 s, took ${Math.round(elapsed)} ms`);
  const info = (await redis.xinfo('STREAM', keys.stream('b'))) as unknown[];
  assert.is(Number(info[info.indexOf('entries-added') + 1]), 60, "every record went through b's stream");
  assert.is(new Set(((await redis.xrange(keys.stream('out'), '-', '+')) as [string, string[]][]).map(([, f]) => f[f.indexOf('k') + 1])).size, 60);
});

test.after(async () => {
  statsd.socket.close();
});

test.run();
