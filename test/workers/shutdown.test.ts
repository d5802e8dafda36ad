import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Keys } from '../../lib/redis/keys.js';
import { cli, exited, FAST, writeConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);
const N = 3000;

test('SIGTERM mid-run: workers exit 0 with nothing pending; after a restart every record is stored once', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  // Small batches so the run is still in the middle when the signal arrives.
  const config = writeConfig(pipeline, {
    blockMs: 50,
    batchSize: 16,
    claimIntervalMs: 100,
    claimMinIdleMs: 2000,
    keepClaimedMs: 500,
    retryMaxMs: 1000,
    drainTimeoutMs: 5000,
  });
  const lines = Array.from({ length: N }, (_, i) => JSON.stringify({ id: `s${i}`, title: `item ${i}`, ...(i % 2 ? { mpn: `A${i}` } : {}) })).join('\n');
  const producer = cli(['--config', config, 'produce'], server.url, { input: lines });
  assert.is(await exited(producer), 0, producer.output());

  const stages = ['preprocess', 'validate', 'store'];
  const first = stages.map((s) => cli(['--config', config, 'worker', s], server.url));
  // Every worker must be running (its signal handler in place) before the signal: records without an
  // MPN skip validate, so products can be stored before a slow-starting validate worker is up.
  try {
    await waitFor('every worker started', () => first.every((w) => w.output().includes('"event":"worker.started"')), 30_000);
    await waitFor('some stored', async () => (await redis.scard(keys.products)) > 200);
  } catch (err) {
    for (const w of first) w.kill('SIGKILL'); // left running, the workers (and their pipes) would hold the process
    throw err;
  }
  for (const w of first) w.kill('SIGTERM');
  const codes = await Promise.all(first.map(exited));
  assert.equal(codes, [0, 0, 0], first.map((w) => w.output()).join('\n'));
  const storedAtStop = await redis.scard(keys.products);
  assert.ok(storedAtStop < N, `the signal should land mid-run (stored ${storedAtStop})`);
  for (const s of stages) {
    const pending = (await redis.xpending(keys.stream(s === 'preprocess' ? 'in' : s), s)) as [number];
    assert.is(pending[0], 0, `${s} left entries pending`);
  }
  const drained = first.map((w) => w.output()).join('');
  assert.match(drained, /"event":"worker.stopped"/);

  const second = stages.map((s) => cli(['--config', config, 'worker', s], server.url));
  try {
    await waitFor('all stored after restart', async () => (await redis.scard(keys.products)) === N, 30_000);
  } finally {
    for (const w of second) w.kill('SIGTERM');
    await Promise.all(second.map(exited));
  }
  const copies = await Promise.all(Array.from({ length: N }, (_, i) => redis.hget(keys.product(`s${i}`), 'copies')));
  assert.equal(copies.filter((c) => c !== '1').length, 0, 'a product was stored from two stream entries');
});

test('SIGTERM while Redis is unreachable (start-up commands never answered): the worker stops and exits 0 (it had exited 13)', async () => {
  const config = writeConfig(randomPipeline(), { ...FAST, drainTimeoutMs: 1000 });
  const worker = cli(['--config', config, 'worker', 'preprocess'], 'redis://127.0.0.1:1');
  await waitFor('a connection error', () => worker.output().includes('"event":"redis.connection_error"'), 30_000);
  worker.kill('SIGTERM');
  assert.is(await exited(worker), 0, worker.output());
  assert.match(worker.output(), /"event":"worker.stopped"/);
});

test.run();
