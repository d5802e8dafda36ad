import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import type { PipelineConfig, ResolvedConfig } from '../../lib/config/types.js';
import { GaugeSampler } from '../../lib/ops/gauges.js';
import { ensureGroups, isIdle, pipelineStatus } from '../../lib/ops/inspect.js';
import { createLogger, silentLogger } from '../../lib/observe/logger.js';
import { createMetrics, METRIC_CATALOG, noopMetrics } from '../../lib/observe/metrics.js';
import { produce } from '../../lib/producer/producer.js';
import { Keys } from '../../lib/redis/keys.js';
import { revokeIds } from '../../lib/ops/revoke.js';
import { recordCompletions } from '../../lib/stream/done.js';
import { Readable } from 'node:stream';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { FAST, startWorkers, stopAll } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';
import { listener, TYPE, type Line } from '../helpers/statsd.js';

function config(url: string, pipeline: string, metrics: Record<string, unknown>): ResolvedConfig {
  const raw = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../config/rules-only.json'), 'utf8')) as PipelineConfig;
  return resolveConfig({ ...raw, pipeline, defaults: FAST, metrics }, 'test', { env: { REDIS_URL: url } });
}

const sum = (lines: Line[], name: string, tags: Record<string, string> = {}) =>
  lines.filter((l) => l.name === name && Object.entries(tags).every(([k, v]) => l.tags[k] === v)).reduce((a, l) => a + l.value, 0);
const count = (lines: Line[], name: string, tags: Record<string, string> = {}) =>
  lines.filter((l) => l.name === name && Object.entries(tags).every(([k, v]) => l.tags[k] === v)).length;
const last = (lines: Line[], name: string, tags: Record<string, string> = {}) =>
  lines.filter((l) => l.name === name && Object.entries(tags).every(([k, v]) => l.tags[k] === v)).at(-1)?.value;

const { server, redis } = await redisForFile(test);

test('a run sends the documented metrics: counts per stage, routes, batch sizes, e2e timing at the sink, backlog gauges', async () => {
  const statsd = await listener();
  const N = 300;
  const cfg = config(server.url, randomPipeline('m'), { enabled: true, host: '127.0.0.1', port: statsd.port, flushIntervalMs: 50, tags: { env: 'test' } });
  const keys = new Keys(cfg.pipeline);
  const records = Array.from({ length: N }, (_, i) => ({ id: `m${i}`, title: `thing ${i}`, ...(i % 3 === 0 ? { mpn: `MX-${i}` } : {}) }));
  const withId = records.filter((r) => r.mpn).length;
  const t0 = Date.now();
  const workers = startWorkers(cfg);
  const sampler = new GaugeSampler({ redis, config: cfg, metrics: createMetrics(cfg.metrics, { pipeline: cfg.pipeline }, silentLogger), logger: silentLogger });
  try {
    await produce(redis, Readable.from(records.map((r) => JSON.stringify(r) + '\n')), { stream: keys.stream('in'), source: 'test', maxRecordBytes: 65536 });
    await waitFor('all stored', async () => (await redis.scard(keys.products)) === N && isIdle(await pipelineStatus(redis, cfg)), 30_000);
    await sampler.sampleOnce();
  } finally {
    await sampler.stop();
    await stopAll(workers); // closing flushes each worker's buffered metrics
  }
  const elapsed = Date.now() - t0;
  const { lines } = statsd;
  await waitFor('the counts arrived', () => sum(lines, 'messages.out', { stage: 'store' }) === N, 10_000);
  statsd.socket.close();

  const catalog = new Map(METRIC_CATALOG.map((m) => [m.name, m]));
  for (const l of lines) {
    const spec = catalog.get(l.name);
    assert.ok(spec, `${l.name} is sent but not in METRIC_CATALOG (docs/metrics-and-monitoring.md)`);
    assert.is(TYPE[l.type], spec.type, `${l.name} sent as ${l.type}`);
    for (const t of [...spec.tags, 'pipeline', 'env']) assert.ok(l.tags[t] !== undefined, `${l.name} lacks tag ${t}: ${JSON.stringify(l.tags)}`);
    assert.is(l.tags.pipeline, cfg.pipeline);
  }
  for (const stage of ['preprocess', 'store']) {
    assert.is(sum(lines, 'messages.in', { stage }), N, `messages.in ${stage}`);
    assert.is(sum(lines, 'messages.out', { stage }), N, `messages.out ${stage}`);
    assert.is(sum(lines, 'batch.size', { stage }), N, `batch.size of ${stage} adds up to every message`);
  }
  assert.is(sum(lines, 'messages.in', { stage: 'validate' }), withId);
  assert.is(sum(lines, 'messages.routed', { stage: 'preprocess', route: 'validate' }), withId);
  assert.is(sum(lines, 'messages.routed', { stage: 'preprocess', route: 'store' }), N - withId);
  assert.is(sum(lines, 'messages.errors'), 0);
  const e2e = lines.filter((l) => l.name === 'message.e2e_ms');
  assert.is(e2e.length, N, 'one end-to-end timing per message');
  assert.ok(
    e2e.every((l) => l.tags.stage === 'store' && l.value >= 0 && l.value <= elapsed),
    'e2e timed at the sink, within the run',
  );
  assert.ok(count(lines, 'batch.process_ms', { stage: 'validate' }) > 0 && count(lines, 'batch.total_ms', { stage: 'preprocess' }) > 0);
  for (const stage of ['preprocess', 'validate', 'store']) {
    assert.is(last(lines, 'group.lag', { stage }), 0, `lag ${stage}`);
    assert.is(last(lines, 'group.pending', { stage }), 0, `pending ${stage}`);
    assert.is(last(lines, 'group.consumers', { stage }), 1, `consumers ${stage}`);
  }
  const sampled = sampler.last!;
  for (const st of sampled.streams) assert.is(last(lines, 'stream.length', { stream: st.stream }), st.length, `stream.length ${st.stream} = XLEN`);
  assert.is(last(lines, 'dlq.length'), 0);
  assert.is(last(lines, 'store.products'), N);
});

test('gauges report backlog while work waits: lag per stage before any worker, dead letters in the DLQ, revoke marks and records ended revoked', async () => {
  const statsd = await listener();
  const cfg = config(server.url, randomPipeline('g'), { enabled: true, host: '127.0.0.1', port: statsd.port, flushIntervalMs: 20 });
  const keys = new Keys(cfg.pipeline);
  await produce(redis, Readable.from(Array.from({ length: 25 }, (_, i) => JSON.stringify({ id: `g${i}`, title: `t${i}` }) + '\n')), {
    stream: keys.stream('in'),
    source: 'test',
    maxRecordBytes: 65536,
  });
  await redis.xadd(keys.dlq, '*', 'stage', 'validate', 'reason', 'max_deliveries');
  // Two marks (g1, g2); one record ended revoked, as a worker writes its completion (the counter goes with it).
  await revokeIds(redis, cfg, ['g1', 'g2'], { by: 'test' });
  await recordCompletions(redis, keys, [{ key: 'g1', status: 'revoked', stage: 'preprocess', by: 'test' }], { maxLen: 100, statusTtlMs: 60_000 });
  const metrics = createMetrics(cfg.metrics, { pipeline: cfg.pipeline }, silentLogger);
  const sampler = new GaugeSampler({ redis, config: cfg, metrics, logger: silentLogger, intervalMs: 50 });
  sampler.start();
  await waitFor('two samples', () => sampler.samples >= 2);
  await sampler.stop();
  await metrics.close();
  await waitFor('gauges arrived', () => last(statsd.lines, 'dlq.length') === 1);
  statsd.socket.close();
  assert.is(last(statsd.lines, 'group.lag', { stage: 'preprocess' }), 25, 'before the group exists, the lag is the stream length');
  assert.is(last(statsd.lines, 'group.consumers', { stage: 'preprocess' }), 0);
  assert.is(last(statsd.lines, 'stream.length', { stream: 'in' }), 25);
  assert.is(last(statsd.lines, 'stream.length', { stream: 'review' }), 0, 'terminal streams are sampled too');
  assert.equal([last(statsd.lines, 'revokes.marks'), last(statsd.lines, 'revoked.records')], [2, 1]);
});

test('an unreachable StatsD (every datagram refused) does not fail or stop the data path', async () => {
  const statsd = await listener();
  const port = statsd.port;
  statsd.socket.close(); // nothing listens there now: every datagram is refused
  const N = 200;
  const cfg = config(server.url, randomPipeline('u'), { enabled: true, host: '127.0.0.1', port, maxBufferBytes: 0 });
  const keys = new Keys(cfg.pipeline);
  const workers = startWorkers(cfg);
  try {
    await produce(redis, Readable.from(Array.from({ length: N }, (_, i) => JSON.stringify({ id: `u${i}`, title: `t${i}` }) + '\n')), {
      stream: keys.stream('in'),
      source: 'test',
      maxRecordBytes: 65536,
    });
    await waitFor('all stored', async () => (await redis.scard(keys.products)) === N, 30_000);
  } finally {
    await stopAll(workers);
  }
  const status = await pipelineStatus(redis, cfg);
  assert.is(status.dlq, 0);
  assert.ok(status.streams.every((s) => !s.group || s.group.pending === 0));
});

test('with the Postgres sink the sampler sends no store.products (it sent 0, SCARD of a Redis set that sink never fills)', async () => {
  const statsd = await listener();
  const raw = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../config/rules-only.json'), 'utf8')) as PipelineConfig;
  const stages = raw.stages.map((st) => (st.kind === 'store' ? { ...st, settings: { sink: 'postgres' } } : st));
  const metrics = { enabled: true, host: '127.0.0.1', port: statsd.port, flushIntervalMs: 20 };
  const cfg = resolveConfig({ ...raw, stages, pipeline: randomPipeline('pg'), defaults: FAST, metrics }, 'test', { env: { REDIS_URL: server.url } });
  const m = createMetrics(cfg.metrics, { pipeline: cfg.pipeline }, silentLogger);
  const sampler = new GaugeSampler({ redis, config: cfg, metrics: m, logger: silentLogger });
  await sampler.sampleOnce();
  await m.close();
  await waitFor('gauges arrived', () => last(statsd.lines, 'dlq.length') === 0);
  statsd.socket.close();
  assert.is(sampler.samples, 1);
  assert.is(count(statsd.lines, 'store.products'), 0);
});

test("the monitor's sampler makes a consumer group again when a sample finds it gone (Redis lost its data; KEDA errors without it): logged", async () => {
  const cfg = config(server.url, randomPipeline('cg'), {});
  const keys = new Keys(cfg.pipeline);
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ component: 'test' }, 'info', (l) => lines.push(JSON.parse(l) as Record<string, unknown>));
  await ensureGroups(redis, cfg);
  await redis.xgroup('DESTROY', keys.stream('in'), 'preprocess'); // as after a restart without persistence
  const sampler = new GaugeSampler({ redis, config: cfg, metrics: noopMetrics, logger, createGroups: true });
  await sampler.sampleOnce();
  const groups = (await redis.xinfo('GROUPS', keys.stream('in'))) as unknown[][];
  assert.equal(
    groups.map((g) => String(g[1])),
    ['preprocess'],
  );
  const made = lines.filter((l) => l.event === 'gauges.groups_created');
  assert.equal(
    made.map((l) => [l.level, l.stages]),
    [['warn', ['preprocess']]],
  );
  await sampler.sampleOnce();
  assert.is(lines.filter((l) => l.event === 'gauges.groups_created').length, 1, 'nothing to make the second time');
});

test('metrics config: STATSD_* and STATSD_TAGS from the environment, batching defaults', () => {
  const raw = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../config/rules-only.json'), 'utf8')) as PipelineConfig;
  const c = resolveConfig({ ...raw, metrics: { tags: { team: 'data' } } }, 'x', {
    env: { STATSD_HOST: 'stats', STATSD_PORT: '9125', STATSD_PREFIX: 'enrich.', STATSD_TAGS: 'env:prod, region:eu' },
  });
  assert.equal(
    [c.metrics.enabled, c.metrics.host, c.metrics.port, c.metrics.prefix, c.metrics.tags],
    [true, 'stats', 9125, 'enrich.', { team: 'data', env: 'prod', region: 'eu' }],
  );
  assert.equal([c.metrics.maxBufferBytes, c.metrics.flushIntervalMs, c.metrics.gaugeIntervalMs], [1400, 1000, 5000]);
});

test.run();
