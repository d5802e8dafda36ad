import { Redis } from 'ioredis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LogStream } from '../../lib/observe/log-stream.js';
import { createLogger } from '../../lib/observe/logger.js';
import { memoryMetrics } from '../../lib/observe/metrics.js';
import { freePort } from '../../lib/redis/server.js';
import { Keys } from '../../lib/redis/keys.js';
import { Worker } from '../../lib/worker/worker.js';
import { STAGES } from '../../stages/index.js';
import { rulesOnlyConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);
const opts = { maxLen: 100, flushIntervalMs: 30, maxBuffered: 1000 };

test('log lines go to stdout and, batched, to the capped {p}:logs stream', async () => {
  const key = new Keys(randomPipeline('l')).extra('logs');
  const out: string[] = [];
  const stream = new LogStream({ ...opts, stream: true, key, next: (l) => out.push(l) });
  stream.attach(redis);
  const logger = createLogger({ stage: 's' }, 'info', stream.tee());
  for (let i = 0; i < 10; i++) logger.info('thing.happened', { i });
  logger.debug('not.at.info');
  assert.is(out.length, 10, 'stdout got every line at once');
  await waitFor('written', async () => (await redis.xlen(key)) === 10);
  const entries = await redis.xrange(key, '-', '+');
  assert.equal(
    entries.map(([, f]) => (JSON.parse(f[1]!) as { i: number; event: string; stage: string }).i),
    [...Array(10).keys()],
  );
  assert.equal(entries[0]![1][0], 'log');
  for (let i = 0; i < 1000; i++) logger.info('flood', { i });
  await stream.close();
  const len = await redis.xlen(key);
  assert.ok(len >= 100 && len < 500, `MAXLEN ~ 100 keeps about 100 lines, got ${len}`);
  assert.is(stream.dropped, 0);
});

test('with Redis down, logging never waits: the buffer stays bounded, drops are counted, close returns', async () => {
  const down = new Redis(`redis://127.0.0.1:${await freePort()}`, { maxRetriesPerRequest: null, retryStrategy: () => 50, lazyConnect: false });
  down.on('error', () => {});
  const metrics = memoryMetrics();
  const out: string[] = [];
  const stream = new LogStream({ ...opts, stream: true, maxBuffered: 100, key: 'x', next: (l) => out.push(l) });
  stream.attach(down, metrics);
  const logger = createLogger({}, 'info', stream.tee());
  const t0 = Date.now();
  for (let i = 0; i < 5000; i++) logger.info('while.down', { i });
  assert.ok(Date.now() - t0 < 2000, 'logging 5000 lines did not wait for Redis');
  await new Promise((r) => setTimeout(r, 100)); // a flush takes up to 100 lines and waits on the dead connection
  for (let i = 0; i < 500; i++) logger.info('still.down', { i });
  assert.ok(stream.dropped >= 5000 - 200, `dropped ${stream.dropped}`);
  assert.is(
    metrics.records.filter((r) => r.name === 'logs.dropped').reduce((a, r) => a + r.value, 0),
    stream.dropped,
  );
  assert.ok(
    out.some((l) => l.includes('"event":"logs.dropped"')),
    'the drop is reported on stdout',
  );
  const c0 = Date.now();
  await stream.close();
  assert.ok(Date.now() - c0 < 1000, 'close does not hang on a dead connection');
  down.disconnect();
});

test('a worker with logs.stream on writes its lines through its shared connection: still 2 connections', async () => {
  const pipeline = randomPipeline('w');
  const base = rulesOnlyConfig(server.url, pipeline);
  const config = { ...base, logs: { ...base.logs, stream: true, flushIntervalMs: 30 } };
  const before = process.env.LOG_LEVEL;
  process.env.LOG_LEVEL = 'info';
  const worker = new Worker({ config, stage: 'preprocess', stages: STAGES });
  process.env.LOG_LEVEL = before;
  const run = worker.run();
  const key = new Keys(pipeline).extra('logs');
  try {
    await waitFor('worker.started in the log stream', async () =>
      (await redis.xrange(key, '-', '+')).some(([, f]) => f[1]!.includes('"event":"worker.started"')),
    );
    const mine = async () =>
      ((await redis.client('LIST')) as string).split('\n').filter((l) => l.includes(`name=preprocess:`) && l.includes(`-${process.pid}-0`));
    // The blocking reader may name itself just after worker.started is written: wait for it, then no more than 2.
    await waitFor('both connections named', async () => (await mine()).length >= 2, 5_000);
    const named = await mine();
    assert.is(named.length, 2, named.join('\n'));
  } finally {
    await worker.stop();
    await run;
  }
  const lines = (await redis.xrange(key, '-', '+')).map(([, f]) => JSON.parse(f[1]!) as { event: string; stage: string });
  assert.ok(lines.every((l) => l.stage === 'preprocess'));
});

test.run();
