/** `redis.connection_errors` of a process running several stages: each connection error counted once, under the stage whose connection it is. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { silentLogger } from '../../lib/observe/logger.js';
import { resolveConfig } from '../../lib/config/load.js';
import type { PipelineConfig } from '../../lib/config/types.js';
import { StageProcess } from '../../lib/worker/process.js';
import { STAGES } from '../../stages/index.js';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { FAST } from '../helpers/pipeline.js';
import { randomPipeline, startRedis, waitFor } from '../helpers/redis.js';
import { listener } from '../helpers/statsd.js';

test('a Redis outage under a process of three stages: the errors counted add up to the connection errors (each had been counted under every stage, 3x)', async () => {
  const server = await startRedis();
  const statsd = await listener();
  const raw = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../config/rules-only.json'), 'utf8')) as PipelineConfig;
  const metrics = { enabled: true, host: '127.0.0.1', port: statsd.port, flushIntervalMs: 20 };
  // drainTimeoutMs shrunk: with Redis gone, stop() waits up to it for each drain (the default: 11 s in all).
  const defaults = { ...FAST, drainTimeoutMs: 500 };
  const config = resolveConfig({ ...raw, pipeline: randomPipeline('ce'), defaults, metrics }, 'test', { env: { REDIS_URL: server.url } });
  const stages = config.stages.map((s) => s.name);
  assert.equal(stages, ['preprocess', 'validate', 'store']);
  const errors: Error[] = [];
  const proc = new StageProcess({ config, stages, kinds: STAGES, logger: silentLogger, onConnectionError: (err) => errors.push(err) });
  const running = proc.run();
  let before = 0;
  try {
    // Every stage's reader and the shared command connection are open: four connections.
    await waitFor('readers connected', () => proc.connectionCount === 4, 20_000);
    await new Promise((r) => setTimeout(r, 300));
    await server.stop('SIGKILL');
    await waitFor('errors on every connection', () => errors.length >= 12, 20_000);
  } finally {
    before = errors.length;
    await proc.stop();
    await running.catch(() => {});
  }
  // An error while the process stops may come after its metrics client closed: counted or not.
  const total = errors.length;
  const counted = () => statsd.lines.filter((l) => l.name === 'redis.connection_errors');
  const sum = () => counted().reduce((n, l) => n + l.value, 0);
  await waitFor('the counts arrived', () => sum() >= before, 5_000).catch(() => {});
  await new Promise((r) => setTimeout(r, 200));
  statsd.socket.close();
  assert.ok(sum() >= before && sum() <= total, `one count per connection error: ${sum()} counted, ${before}-${total} errors`);
  const byStage = (stage: string) => counted().filter((l) => l.tags.stage === stage).length;
  for (const stage of stages) assert.ok(byStage(stage) > 0, `the reader of ${stage} erred: counted under it`);
  await server.close();
});

test.run();
