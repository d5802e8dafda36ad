import { writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeEnvelope, newEnvelope } from '../../lib/stream/codec.js';
import { loadConfigFile, resolveConfig } from '../../lib/config/load.js';
import { StageProcess } from '../../lib/worker/process.js';
import { STAGES } from '../../stages/index.js';
import { consumerHealth, progressKey } from '../../lib/ops/consumer-health.js';
import { createLogger, silentLogger } from '../../lib/observe/logger.js';
import { library, loadLibrary } from '../../lib/redis/functions.js';
import { freePort } from '../../lib/redis/server.js';
import { consumerName, Keys } from '../../lib/redis/keys.js';
import { ok, type StageFactory } from '../../lib/worker/stage.js';
import { Worker } from '../../lib/worker/worker.js';
import { cli, exited, FAST, rulesOnlyConfig, writeConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);
const host = hostname();

test('health passes while a worker reads (even before its first delivery) and fails once it has stopped', async () => {
  const pipeline = randomPipeline('h');
  const config = rulesOnlyConfig(server.url, pipeline);
  const worker = new Worker({ config, stage: 'preprocess', stages: (await import('../../stages/index.js')).STAGES, logger: silentLogger });
  const run = worker.run();
  const keys = new Keys(pipeline);
  const me = consumerName(host, process.pid, 0);
  try {
    await waitFor('progress marker', async () => (await redis.exists(progressKey(keys, 'preprocess', me))) === 1);
    const h = await consumerHealth(redis, config, 'preprocess', { host, pid: process.pid });
    assert.equal([h.ok, h.consumer], [true, me], JSON.stringify(h));
    const probe = cli(['--config', writeConfig(pipeline), 'health', '--stage', 'preprocess', '--pid', String(process.pid)], server.url);
    assert.is(await exited(probe), 0, probe.output());
    assert.match(probe.output(), /"ok":true/);
    const other = await consumerHealth(redis, config, 'preprocess', { host: 'elsewhere', pid: 1 });
    assert.is(other.ok, false, 'another host has no consumer here');
  } finally {
    await worker.stop();
    await run;
  }
  const after = await consumerHealth(redis, config, 'preprocess', { host, pid: process.pid });
  assert.is(after.ok, false);
  assert.match(after.reason!, /no progress marker/);
});

test("a stage run fused in its process is found through the process's other stages, without --pid; an exited process's consumer does not hide it", async () => {
  const pipeline = randomPipeline('h');
  const config = resolveConfig(
    {
      pipeline,
      input: 'in',
      defaults: FAST,
      stages: [
        { name: 'preprocess', kind: 'preprocess', input: 'in', process: 'both' },
        { name: 'store', kind: 'store', process: 'both' },
      ],
      routes: { preprocess: [{ to: 'store' }] },
    },
    'test',
    { env: { REDIS_URL: server.url } },
  );
  const keys = new Keys(pipeline);
  const proc = new StageProcess({ config, stages: ['preprocess', 'store'], kinds: STAGES, logger: silentLogger });
  const run = proc.run();
  try {
    await redis.xadd(keys.stream('in'), '*', 'k', 'f1', 'e', encodeEnvelope(newEnvelope({ id: 'f1', title: 'fused' })));
    await waitFor('stored, fused', async () => (await redis.scard(keys.products)) === 1);
    const me = consumerName(host, process.pid, 0);
    await waitFor("the store's progress marker", async () => (await redis.exists(progressKey(keys, 'store', me))) === 1);
    // The store group was never delivered anything (the record ran fused); an exited process left its name there.
    await redis.xgroup('CREATECONSUMER', keys.stream('store'), 'store', `${host}-1-0`);
    const h = await consumerHealth(redis, config, 'store', { host });
    assert.equal([h.ok, h.consumer], [true, me], JSON.stringify(h));
  } finally {
    await proc.stop();
    await run;
  }
});

test('health fails when the read loop is wedged inside the stage, though the consumer still talks to Redis', async () => {
  const pipeline = randomPipeline('w');
  const keys = new Keys(pipeline);
  const file = join(tmpdir(), `${pipeline}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      pipeline,
      input: 'in',
      defaults: { blockMs: 100, watchdogIntervalMs: 50, stallTimeoutMs: 400, keepClaimedMs: 100, claimIntervalMs: 100, drainTimeoutMs: 500 },
      stages: [{ name: 'hang', kind: 'hang', input: 'in' }],
      routes: {},
    }),
  );
  const config = loadConfigFile(file, { env: { REDIS_URL: server.url } });
  let release = () => {};
  const hang: StageFactory = () => ({
    kind: 'hang',
    sink: true,
    process: (batch) => new Promise((res) => (release = () => res(batch.map(() => ok({}))))),
  });
  const worker = new Worker({ config, stage: 'hang', stages: { hang }, logger: silentLogger });
  const run = worker.run();
  try {
    const env = newEnvelope({ id: 'x', title: 'stuck' });
    await redis.xadd(keys.stream('in'), '*', 'k', env.key, 'e', encodeEnvelope(env));
    await waitFor('listed after its first delivery', async () => (await consumerHealth(redis, config, 'hang', { host })).consumer !== undefined);
    await waitFor('health fails while stuck in the stage', async () => !(await consumerHealth(redis, config, 'hang', { host, pid: process.pid })).ok, 10_000);
    const h = await consumerHealth(redis, config, 'hang', { host, pid: process.pid });
    assert.ok(h.idleMs! < 1000, `the keep-claimed reset keeps XINFO idle low (${h.idleMs} ms): idle alone would call this healthy`);
    release();
    await waitFor('health recovers with progress', async () => (await consumerHealth(redis, config, 'hang', { host, pid: process.pid })).ok, 10_000);
  } finally {
    release();
    await worker.stop();
    await run;
  }
});

test('a worker waiting out a full Redis (maxmemory, noeviction) stays healthy: its liveness marker is still refreshed (before: SET refused with OOM, the marker expired)', async () => {
  const pipeline = randomPipeline('f');
  const o = { ...FAST, blockMs: 50, watchdogIntervalMs: 50, stallTimeoutMs: 300 };
  const config = rulesOnlyConfig(server.url, pipeline, o);
  const worker = new Worker({ config, stage: 'preprocess', stages: STAGES, logger: silentLogger });
  const run = worker.run();
  const key = progressKey(new Keys(pipeline), 'preprocess', consumerName(host, process.pid, 0));
  const limit = o.blockMs + o.stallTimeoutMs + o.watchdogIntervalMs; // the marker's TTL after its last refresh
  try {
    await waitFor('progress marker', async () => (await redis.exists(key)) === 1);
    await redis.config('SET', 'maxmemory', '1');
    const fullAt = Date.now();
    const err = await redis.set(`${pipeline}:probe`, 'x').catch((e: unknown) => e);
    assert.match(String(err), /OOM/, 'Redis refuses writes');
    await waitFor(
      'the marker refreshed past the TTL it had when Redis filled up',
      async () => {
        const m = await redis.get(key);
        return m !== null && (JSON.parse(m) as { at: number }).at > fullAt + 2 * limit;
      },
      10_000,
    );
    const h = await consumerHealth(redis, config, 'preprocess', { host, pid: process.pid });
    assert.ok(h.ok, JSON.stringify(h));
  } finally {
    await redis.config('SET', 'maxmemory', '0');
    await worker.stop();
    await run;
  }
});

test('an unknown stage fails the probe naming the stages and processes it could have meant (it said "no stage named x" alone)', async () => {
  const plain = rulesOnlyConfig(server.url, randomPipeline('n'));
  const h = await consumerHealth(redis, plain, 'extract', { host });
  assert.is(h.ok, false);
  assert.is(h.reason, 'no stage or process named "extract" (stages: preprocess, validate, store)');
  // With `process` groups (the shipped config's intake and enrich), those of several stages are listed too, as `pipeline worker` lists them.
  const stages = plain.stages.map((s, i) => ({ name: s.name, kind: s.kind, input: s.input, process: i === 0 ? 'intake' : 'enrich' }));
  const grouped = resolveConfig({ pipeline: plain.pipeline, stages, routes: { preprocess: [{ to: 'validate' }], validate: [{ to: 'store' }] } }, 'test', {
    env: { REDIS_URL: server.url },
  });
  assert.is(
    (await consumerHealth(redis, grouped, 'extract', { host })).reason,
    'no stage or process named "extract" (stages: preprocess, validate, store; processes: enrich (validate, store))',
  );
});

test('an unreachable Redis fails the readiness probe but passes the liveness probe (--unknown-ok)', async () => {
  const url = `redis://127.0.0.1:${await freePort()}`;
  const config = writeConfig(randomPipeline('u'));
  const ready = cli(['--config', config, 'health', '--stage', 'preprocess', '--pid', '1'], url);
  const live = cli(['--config', config, 'health', '--stage', 'preprocess', '--pid', '1', '--unknown-ok'], url);
  assert.equal(await Promise.all([exited(ready), exited(live)]), [1, 0], ready.output() + live.output());
  assert.match(live.output(), /"unreachable":true/);
});

test('a worker waiting for the Functions library (its user may not load it) fails health with a line naming the stage and `pipeline functions load` (before: only "no consumer"); it passes once the admin loads it', async () => {
  const pipeline = randomPipeline('fn');
  // The pipeline's keys and FCALL, but not FUNCTION LOAD: only the admin may load the library.
  await redis.call('ACL', 'SETUSER', 'noload', 'reset', 'on', '>pw', '~*', '&*', '+@all', '-function');
  const url = server.url.replace('redis://', 'redis://noload:pw@');
  await redis.call('FUNCTION', 'FLUSH');
  const logs: string[] = [];
  const logger = createLogger({ stage: 'preprocess' }, 'warn', (line) => logs.push(line));
  const worker = new Worker({ config: rulesOnlyConfig(url, pipeline), stage: 'preprocess', stages: STAGES, logger });
  const run = worker.run();
  try {
    await waitFor('the worker says it waits for the library', () => logs.some((l) => l.includes('functions.missing')), 10_000);
    const probe = cli(['--config', writeConfig(pipeline), 'health', '--stage', 'preprocess', '--pid', String(process.pid)], url);
    assert.is(await exited(probe), 1, probe.output());
    const line = JSON.parse(probe.output().trim().split('\n').at(-1)!) as { ok: boolean; stage: string; reason: string };
    assert.equal([line.ok, line.stage], [false, 'preprocess'], probe.output());
    assert.match(line.reason, `${library().name} is not loaded: stage preprocess's worker waits for it`);
    assert.match(line.reason, '`pipeline functions load` as the admin');
    await loadLibrary(redis);
    await waitFor(
      'the worker reads once the library is loaded',
      async () => (await consumerHealth(redis, rulesOnlyConfig(url, pipeline), 'preprocess', { host, pid: process.pid })).ok,
      15_000,
    );
  } finally {
    await loadLibrary(redis);
    await worker.stop();
    await run;
  }
});

test.run();
