/**
 * Memory bounds: review / DLQ age caps that never drop silently, and the maxmemory-policy check
 * at start (CONFIG GET, or INFO memory when the user may not run CONFIG).
 */
import { rmSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import { createLogger } from '../../lib/observe/logger.js';
import { createMetrics } from '../../lib/observe/metrics.js';
import { GaugeSampler } from '../../lib/ops/gauges.js';
import { Keys } from '../../lib/redis/keys.js';
import { checkEvictionPolicy, EvictingPolicyError, evictionRisk, maxmemoryPolicy } from '../../lib/redis/policy.js';
import { Worker } from '../../lib/worker/worker.js';
import { STAGES } from '../../stages/index.js';
import { cli, exited, FAST, rulesOnlyConfig, writeConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';
import { Redis } from 'ioredis';

const { server, redis } = await redisForFile(test);

test('age caps: review and DLQ entries older than the cap are trimmed by the sampler, logged and counted; younger ones and other streams stay', async () => {
  const base = rulesOnlyConfig(server.url, randomPipeline());
  const config = { ...base, streams: { ...base.streams, terminalMaxAgeMs: 60_000, dlqMaxAgeMs: 3_600_000 } };
  const keys = new Keys(config.pipeline);
  const now = Date.now();
  const old = (ageMs: number, i: number) => `${now - ageMs}-${i}`;
  for (let i = 0; i < 5; i++) await redis.xadd(keys.stream('review'), old(120_000, i), 'k', `r${i}`);
  for (let i = 0; i < 3; i++) await redis.xadd(keys.stream('review'), '*', 'k', `new${i}`);
  for (let i = 0; i < 4; i++) await redis.xadd(keys.dlq, old(7_200_000, i), 'k', `d${i}`);
  for (let i = 0; i < 2; i++) await redis.xadd(keys.dlq, old(60_000, i), 'k', `dy${i}`);
  await redis.xadd(keys.stream('in'), old(7_200_000, 0), 'k', 'input');
  const logs: string[] = [];
  const counted: string[] = [];
  const logger = createLogger({ component: 'test' }, 'info', (l) => logs.push(l));
  const metrics = createMetrics({ ...config.metrics, enabled: false }, {}, logger);
  const increment = metrics.increment.bind(metrics);
  metrics.increment = (name: string, n?: number, tags?: Record<string, string>) => {
    counted.push(`${name}:${n}:${tags?.stream}`);
    increment(name, n, tags);
  };
  const sampler = new GaugeSampler({ redis, config, metrics, logger });
  await sampler.sampleOnce();
  assert.is(await redis.xlen(keys.stream('review')), 3, 'the 5 old review entries went, the 3 new stay');
  assert.is(await redis.xlen(keys.dlq), 2, 'the 4 old dead letters went, the 2 younger than the cap stay');
  assert.is(await redis.xlen(keys.stream('in')), 1, 'uncapped streams are untouched');
  // Tagged with the short name, as stream.length is (it was the full key, `{p}:dlq`).
  assert.equal(counted.filter((c) => c.startsWith('stream.trimmed_by_age')).sort(), ['stream.trimmed_by_age:4:dlq', 'stream.trimmed_by_age:5:review']);
  const lines = logs.filter((l) => l.includes('"stream.trimmed_by_age"'));
  assert.is(lines.length, 2, 'one warn line per trimmed stream');
  assert.match(lines.join('\n'), /"removed":5/);
  await sampler.sampleOnce();
  assert.is(logs.filter((l) => l.includes('"stream.trimmed_by_age"')).length, 2, 'nothing trimmed, nothing said');
});

test('age caps apply without StatsD: `pipeline monitor` with metrics off trims review and DLQ (the caps had run only beside the gauges)', async () => {
  const pipeline = randomPipeline();
  const file = writeConfig(pipeline, FAST, {
    streams: { terminal: ['review'], terminalMaxAgeMs: 60_000, dlqMaxAgeMs: 60_000 },
    metrics: { gaugeIntervalMs: 200 },
  });
  const keys = new Keys(pipeline);
  const old = `${Date.now() - 120_000}`;
  for (let i = 0; i < 3; i++) await redis.xadd(keys.stream('review'), `${old}-${i}`, 'k', `r${i}`);
  for (let i = 0; i < 2; i++) await redis.xadd(keys.dlq, `${old}-${i}`, 'k', `d${i}`);
  await redis.xadd(keys.stream('review'), '*', 'k', 'young');
  const monitor = cli(['--config', file, 'monitor'], server.url);
  try {
    await waitFor('the old entries trimmed', async () => (await redis.xlen(keys.stream('review'))) === 1 && (await redis.xlen(keys.dlq)) === 0, 15_000);
    // The log line reaches our pipe a moment after the XTRIM lands: wait for it, do not race it.
    await waitFor('the trim logged', async () => /"event":"stream\.trimmed_by_age"/.test(monitor.output()), 5_000);
    assert.match(monitor.output(), /"event":"monitor\.metrics_off"[^\n]*"ageCaps":true/);
  } finally {
    monitor.kill('SIGTERM');
    await exited(monitor);
    rmSync(file, { force: true });
  }
});

test('age caps are off by default and validated', () => {
  const config = rulesOnlyConfig(server.url, randomPipeline());
  assert.is(config.streams.terminalMaxAgeMs, 0);
  assert.is(config.streams.dlqMaxAgeMs, 0);
  assert.throws(
    () =>
      resolveConfig(
        {
          ...JSON.parse(
            JSON.stringify({ pipeline: 'x', stages: config.stages.map((s) => ({ name: s.name, kind: s.kind, input: s.input })), routes: config.routes }),
          ),
          streams: { dlqMaxAgeMs: -1 },
        },
        't',
        { env: {} },
      ),
    /streams\.dlqMaxAgeMs/,
  );
});

test('maxmemory-policy: noeviction passes; any other policy warns once, loudly, and allkeys-* stops workers and the producer from starting; a user without CONFIG falls back to INFO memory', async () => {
  assert.is(await maxmemoryPolicy(redis), 'noeviction');
  const said: string[] = [];
  assert.is(await checkEvictionPolicy(redis, (l) => said.push(l)), 'noeviction');
  assert.equal(said, []);
  await redis.config('SET', 'maxmemory-policy', 'allkeys-lru');
  try {
    await checkEvictionPolicy(redis, (l) => said.push(l));
    assert.is(said.length, 1);
    assert.match(said[0]!, /allkeys-lru, not noeviction.*evicts any key.*maxmemory-policy noeviction/);
    await redis.call('ACL', 'SETUSER', 'noconfig', 'reset', 'on', '>pw', '-@all', '+ping', '+info', '+client|setname');
    const limited = new Redis(server.url.replace('redis://', 'redis://noconfig:pw@'), { maxRetriesPerRequest: 1 });
    try {
      assert.match(
        await limited.config('GET', 'maxmemory-policy').then(
          () => '',
          (e: Error) => e.message,
        ),
        /NOPERM/,
      );
      assert.is(await maxmemoryPolicy(limited), 'allkeys-lru', 'read from INFO memory');
    } finally {
      limited.disconnect();
    }
    // A worker says why in one structured line, and refuses to start: any key (stored products
    // among them) could vanish (an audit's run lost 11,174 of 20,000 stored products).
    const config = rulesOnlyConfig(server.url, randomPipeline());
    const lines: string[] = [];
    const worker = (level: 'warn' | 'info' = 'warn') =>
      new Worker({
        config: { ...config, stages: config.stages.map((s) => ({ ...s, ...FAST })) },
        stage: 'validate',
        stages: STAGES,
        logger: createLogger({ stage: 'validate' }, level, (l) => lines.push(l)),
      });
    const w = worker();
    const refused = await w.run().then(
      () => undefined,
      (err: unknown) => err,
    );
    await w.stop();
    assert.instance(refused, EvictingPolicyError);
    const line = JSON.parse(lines.find((l) => l.includes('"redis.eviction_policy"'))!) as Record<string, unknown>;
    assert.is(line.policy, 'allkeys-lru');
    assert.is(line.level, 'warn');
    // The CLI's producer says it and refuses too, writing nothing.
    const file = writeConfig(config.pipeline, FAST);
    try {
      const p = cli(['--config', file, 'produce', '--rejects', `/tmp/${config.pipeline}.rej`], server.url, { input: JSON.stringify({ id: 'a', title: 'x' }) });
      assert.is(await exited(p), 1, p.output());
      assert.match(p.output(), /^error: config error at maxmemory-policy: maxmemory-policy is allkeys-lru.*refusing to start/m);
      assert.is(await redis.exists(new Keys(config.pipeline).stream('in')), 0, 'nothing produced');
      // volatile-* evicts only keys with a TTL: a warning, the worker runs.
      await redis.config('SET', 'maxmemory-policy', 'volatile-lru');
      const v = worker('info');
      const running = v.run();
      await waitFor('the volatile-lru worker to start', () => lines.some((l) => l.includes('"worker.started"')), 10_000);
      await v.stop();
      await running;
    } finally {
      rmSync(file, { force: true });
    }
  } finally {
    await redis.config('SET', 'maxmemory-policy', 'noeviction');
  }
  assert.is(evictionRisk('volatile-lru')!.includes('TTL'), true);
});

test.run();
