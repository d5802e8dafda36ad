import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Backpressure, BackpressureTimeoutError, describe } from '../../lib/producer/backpressure.js';
import { DrainRate, retryAfterSeconds } from '../../lib/producer/drain.js';
import { Keys } from '../../lib/redis/keys.js';
import { replayDeadLetters } from '../../lib/ops/dlq.js';
import { cli, exited, rulesOnlyConfig, writeConfig } from '../helpers/pipeline.js';
import { addEntries, randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);

const addN = (stream: string, n: number) => addEntries(redis, stream, n);

test('lag above maxLag is pressure; no group yet counts the whole stream; a group that read it clears it', async () => {
  const keys = new Keys(randomPipeline());
  const stream = keys.stream('in');
  const bp = new Backpressure(redis, { stream, group: 'preprocess', maxLag: 10, cacheMs: 0 });
  assert.equal((await bp.check()).clear, true, 'a stream that does not exist yet');
  await addN(stream, 11);
  const before = await bp.check();
  assert.equal([before.clear, before.reason, before.lag], [false, 'lag', 11], 'no group: every entry waits');
  await redis.xgroup('CREATE', stream, 'preprocess', '0');
  assert.is((await bp.check()).lag, 11);
  await redis.xreadgroup('GROUP', 'preprocess', 'c1', 'COUNT', 5, 'STREAMS', stream, '>');
  const after = await bp.check();
  assert.equal([after.clear, after.lag], [true, 6]);
});

test('Redis at maxmemory is pressure (reason oom), whatever the lag', async () => {
  const keys = new Keys(randomPipeline());
  const bp = new Backpressure(redis, { stream: keys.stream('in'), group: 'preprocess', maxLag: 1000, cacheMs: 0 });
  try {
    await redis.config('SET', 'maxmemory', '1mb');
    const p = await bp.check();
    assert.equal([p.clear, p.reason], [false, 'oom']);
    await assert.not.throws(() => p.usedMemory! >= p.maxMemory!);
  } finally {
    await redis.config('SET', 'maxmemory', '0');
  }
  assert.is((await bp.check()).clear, true);
});

test('waitUntilClear waits while behind, reports, resumes once the group catches up; maxWaitMs gives up with a typed error', async () => {
  const keys = new Keys(randomPipeline());
  const stream = keys.stream('in');
  await addN(stream, 20);
  const bp = new Backpressure(redis, { stream, group: 'preprocess', maxLag: 10, cacheMs: 0 });
  const err = await bp.waitUntilClear({ pollMs: 10, maxWaitMs: 50 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof BackpressureTimeoutError, String(err));
  let waits = 0;
  const waiting = bp.waitUntilClear({ pollMs: 10, onWait: () => waits++ });
  await waitFor('a wait reported', () => waits > 0, 5_000, 5);
  await redis.xgroup('CREATE', stream, 'preprocess', '0');
  await redis.xreadgroup('GROUP', 'preprocess', 'c1', 'COUNT', 20, 'STREAMS', stream, '>');
  await waiting;
});

test('pipeline produce waits on stderr while the input lag is above limits.maxLag, and completes once the stage catches up, every record once', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  const config = writeConfig(pipeline, undefined, { limits: { maxLag: 50 } });
  const lines = Array.from({ length: 200 }, (_, i) => JSON.stringify({ id: `p${i}`, title: `item ${i}` })).join('\n');
  const child = cli(['produce', '--config', config, '--batch', '50', '--backpressure-poll', '20', '--rejects', '/dev/null'], server.url, { input: lines });
  const stream = keys.stream('in');
  await waitFor('the producer to wait', () => /waiting: the input lag \d+ is above limits.maxLag 50/.test(child.output()), 20_000).catch((e: Error) => {
    throw new Error(e.message + ': ' + child.output());
  });
  const held = await redis.xlen(stream);
  assert.ok(held >= 51 && held <= 100, `stopped after the batch that crossed the limit (${held} in the stream)`);
  // The stage catches up: its group reads everything so far, again and again until the producer is done.
  await redis.xgroup('CREATE', stream, 'preprocess', '0', 'MKSTREAM');
  const drain = setInterval(() => void redis.xreadgroup('GROUP', 'preprocess', 'c1', 'COUNT', 1000, 'STREAMS', stream, '>').catch(() => {}), 20);
  try {
    assert.is(await exited(child), 0, child.output());
  } finally {
    clearInterval(drain);
  }
  assert.match(child.output(), /resumed after/);
  const ids = (await redis.xrange(stream, '-', '+')).map(([, f]) => f[1]);
  assert.is(ids.length, 200);
  assert.is(new Set(ids).size, 200);
});

test('every stage a new record crosses counts, each against its own maxLag: a backlog further on is pressure too, named in the message (only the input stage was read)', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  const config = rulesOnlyConfig(server.url, pipeline);
  config.stages.find((s) => s.name === 'validate')!.maxLag = 3;
  const bp = Backpressure.forInput(redis, config, keys, 0, 0);
  assert.is((await bp.check()).clear, true);
  await addN(keys.stream('validate'), 5); // the stage after the input is behind; the input itself is empty
  const p = await bp.check();
  assert.equal([p.clear, p.reason, p.stage, p.lag, p.maxLag], [false, 'lag', 'validate', 5, 3]);
  assert.match(describe(p), /stage validate has a lag of 5, above its maxLag 3/);
  assert.equal(
    p.stages!.map((x) => x.stage),
    ['preprocess', 'validate', 'store'],
    'the input stage, then those after it through the routes',
  );
  await redis.xtrim(keys.stream('validate'), 'MAXLEN', 0);
  assert.is((await bp.check()).clear, true, 'clear again once it drained');
});

test('pipeline produce waits while a stage further on is behind its own maxLag, and goes on once it drains', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  const raw = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../config/rules-only.json'), 'utf8')) as { stages: { name: string; maxLag?: number }[] };
  const config = writeConfig(pipeline, undefined, { stages: raw.stages.map((s) => (s.name === 'validate' ? { ...s, maxLag: 5 } : s)) });
  await addN(keys.stream('validate'), 10);
  const lines = Array.from({ length: 100 }, (_, i) => JSON.stringify({ id: `q${i}`, title: `item ${i}` })).join('\n');
  const child = cli(['produce', '--config', config, '--batch', '50', '--backpressure-poll', '20', '--rejects', '/dev/null'], server.url, { input: lines });
  try {
    await waitFor('the producer to wait', () => /waiting: stage validate has a lag of 10, above its maxLag 5/.test(child.output()), 20_000).catch(
      (e: Error) => {
        throw new Error(e.message + ': ' + child.output());
      },
    );
    assert.is(await redis.xlen(keys.stream('in')), 0, 'nothing produced while the stage after the input is behind');
    await redis.xtrim(keys.stream('validate'), 'MAXLEN', 0);
    assert.is(await exited(child), 0, child.output());
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
  assert.match(child.output(), /resumed after/);
  assert.is(await redis.xlen(keys.stream('in')), 100);
});

test("drain rate and Retry-After (pure): the lag's net fall per second over the window, or since its highest reading once it has fallen from it for minSpanMs; excess / rate within [min, max]; unknown: min; not falling: max", () => {
  const d = new DrainRate(10_000, 500);
  d.add('s', 1_000, 0);
  assert.is(d.perSecond('s'), undefined, 'one reading');
  d.add('s', 900, 400);
  assert.is(d.perSecond('s'), undefined, 'readings closer than minSpanMs');
  d.add('s', 800, 1_000);
  assert.is(d.perSecond('s'), 200);
  d.add('s', 800, 12_000); // the readings before 2,000 fall out of the window
  assert.is(d.perSecond('s'), undefined, 'one reading left in the window');
  const b = new DrainRate(10_000, 500);
  for (const [lag, at] of [
    [5, 0],
    [5, 1_000],
    [2_000, 1_100],
    [1_800, 1_400],
  ])
    b.add('s', lag!, at);
  assert.ok(b.perSecond('s')! < 0, 'falling for less than minSpanMs since the burst: the window, which grew');
  b.add('s', 1_000, 2_100);
  assert.is(b.perSecond('s'), 1_000, 'falling for minSpanMs or more: the rate since the highest reading, not the window with the burst');
  b.add('s', 3_000, 2_200);
  assert.ok(b.perSecond('s')! < 0, 'the lag at its highest again: the window');
  assert.is(retryAfterSeconds(1_000, 200, 1, 60), 5);
  assert.is(retryAfterSeconds(1_001, 200, 1, 60), 6, 'rounded up');
  assert.is(retryAfterSeconds(10, 200, 1, 60), 1, 'at least min');
  assert.is(retryAfterSeconds(1_000_000, 200, 1, 60), 60, 'at most max');
  assert.is(retryAfterSeconds(1_000, undefined, 2, 60), 2, 'rate unknown: min');
  assert.is(retryAfterSeconds(1_000, 0, 2, 60), 60, 'not falling: max');
  assert.is(retryAfterSeconds(1_000, -50, 2, 60), 60, 'growing: max');
});

test('config: limits.maxLag defaults to 100000, a stage may override it, and a bad value names where', async () => {
  const c = rulesOnlyConfig(server.url, 'x');
  assert.is(c.limits.maxLag, 100_000);
  assert.is(c.stages[0]!.maxLag, 100_000);
  const { resolveConfig } = await import('../../lib/config/load.js');
  const raw = {
    stages: [{ name: 'preprocess', kind: 'preprocess', input: 'in', maxLag: 7 }],
    routes: { preprocess: [{ to: 'review' }] },
    limits: { maxLag: 9 },
  };
  const r = resolveConfig(raw, 't', { env: {} });
  assert.equal([r.limits.maxLag, r.stages[0]!.maxLag], [9, 7]);
  assert.throws(() => resolveConfig({ ...raw, limits: { maxLag: 0 } }, 't', { env: {} }), /limits\.maxLag/);
});

test('DLQ replay follows the same rule: it waits while the target stage is behind (and gives up with maxWaitMs, the entry kept), then replays', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  const config = rulesOnlyConfig(server.url, pipeline);
  config.stages.find((s) => s.name === 'validate')!.maxLag = 3;
  await addN(keys.stream('validate'), 5);
  const id = await redis.xadd(
    keys.dlq,
    '*',
    'k',
    'd1',
    'e',
    'x',
    'stage',
    'validate',
    'stream',
    'validate',
    'id',
    '1-0',
    'reason',
    'max_deliveries',
    'error',
    'e',
    'deliveries',
    '5',
    'at',
    '0',
  );
  const err = await replayDeadLetters(redis, config, { ids: [id!] }, keys, { backpressure: { pollMs: 10, maxWaitMs: 100 } }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof BackpressureTimeoutError, String(err));
  assert.is(await redis.xlen(keys.dlq), 1, 'not replayed while behind');
  await redis.xtrim(keys.stream('validate'), 'MAXLEN', 0);
  const r = await replayDeadLetters(redis, config, { ids: [id!] }, keys, { backpressure: { pollMs: 10, maxWaitMs: 1000 } });
  assert.is(r.replayed.length, 1);
  assert.is(await redis.xlen(keys.dlq), 0);
});

test.run();
