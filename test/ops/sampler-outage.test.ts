/** The gauge sampler during a Redis outage: each sample is bounded (metrics.sampleTimeoutMs), so the outage is counted and logged. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import type { PipelineConfig } from '../../lib/config/types.js';
import { GaugeSampler } from '../../lib/ops/gauges.js';
import { createLogger, silentLogger } from '../../lib/observe/logger.js';
import { memoryMetrics } from '../../lib/observe/metrics.js';
import { Connections } from '../../lib/redis/connections.js';
import { randomPipeline, startRedis, waitFor } from '../helpers/redis.js';

test('metrics.sampleTimeoutMs defaults to one gaugeIntervalMs', () => {
  const raw = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../config/rules-only.json'), 'utf8')) as PipelineConfig;
  const c = resolveConfig({ ...raw, metrics: { gaugeIntervalMs: 2000 } }, 'x', { env: {} });
  assert.equal([c.metrics.gaugeIntervalMs, c.metrics.sampleTimeoutMs], [2000, 2000]);
  assert.is(resolveConfig({ ...raw, metrics: { sampleTimeoutMs: 700 } }, 'x', { env: {} }).metrics.sampleTimeoutMs, 700);
});

test('Redis down under the sampler: every interval counts gauges.errors and logs gauges.sample_error (it had waited silently in the offline queue); back up, it samples again', async () => {
  const server = await startRedis();
  const raw = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../config/rules-only.json'), 'utf8')) as PipelineConfig;
  const config = resolveConfig({ ...raw, pipeline: randomPipeline('so'), metrics: { gaugeIntervalMs: 100, sampleTimeoutMs: 150 } }, 'test', {
    env: { REDIS_URL: server.url },
  });
  // As `pipeline monitor` and `up` connect: commands wait for the reconnect, never fail on their own.
  const connections = new Connections({ url: config.redis.url, name: 'sampler-test', logger: silentLogger });
  const metrics = memoryMetrics();
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ component: 'test' }, 'info', (l) => lines.push(JSON.parse(l) as Record<string, unknown>));
  const sampler = new GaugeSampler({ redis: connections.command(), config, metrics, logger });
  const errors = () => metrics.records.filter((r) => r.name === 'gauges.errors').length;
  try {
    sampler.start();
    await waitFor('a sample', () => sampler.samples >= 1);
    await server.stop('SIGKILL');
    await waitFor('three failed samples', () => errors() >= 3, 10_000);
    const logged = lines.filter((l) => l.event === 'gauges.sample_error');
    assert.ok(logged.length >= 3);
    assert.equal((logged[0]!.err as { name: string }).name, 'SampleTimeoutError');
    const before = sampler.samples;
    await server.start();
    await waitFor('sampling again', () => sampler.samples > before + 1, 15_000);
  } finally {
    await sampler.stop();
    await connections.close();
    await server.close();
  }
});

test.run();
