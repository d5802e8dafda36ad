import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Redis } from 'ioredis';
import { buildServer } from '../../lib/api/server.js';
import { loadConfigFile } from '../../lib/config/load.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import { readRedisProduct } from '../../stages/sinks/export.js';
import { FAST, startWorkers, stopAll } from '../helpers/pipeline.js';
import { randomPipeline, startRedis, waitFor } from '../helpers/redis.js';

const server = await startRedis();

test('the wait path through the full model pipeline: 20 concurrent enrich calls each answered with its stored, classified and extracted product', async () => {
  const pipeline = randomPipeline('am');
  const base = loadConfigFile('config/pipeline.json', { env: { REDIS_URL: server.url, PIPELINE: pipeline } });
  const config = { ...base, stages: base.stages.map((s) => ({ ...s, ...FAST, blockMs: 100, drainTimeoutMs: 30_000, claimMinIdleMs: 60_000 })) };
  const keys = new Keys(pipeline);
  const productReader = (ctx: { redis: Redis }) => ({
    read: async (k: string) => (await readRedisProduct(ctx.redis, keys, k)) as Record<string, unknown> | null,
  });
  const app = await buildServer({ config, tokens: [], logger: silentLogger, limits: { completionsBlockMs: 100, maxWaitMs: 180_000 }, productReader });
  const workers = startWorkers(config);
  try {
    await app.ready();
    await waitFor('completions reader', () => app.pipeline.completions.following, 10_000);
    const dev = readFileSync(resolve(import.meta.dirname, '../../../shared/data/products/dev.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .slice(0, 20)
      .map((l) => JSON.parse(l) as { id: string; title: string });
    // Generous deadline: the first call also waits for every stage to load its model on a loaded machine.
    const answers = await Promise.all(
      dev.map((r) => app.inject({ method: 'POST', url: '/v1/enrich?timeout_ms=180000', payload: { id: r.id, title: r.title } })),
    );
    for (const [i, a] of answers.entries()) {
      assert.is(a.statusCode, 200, a.body);
      const j = a.json();
      assert.equal([j.status, j.product.key], ['stored', dev[i]!.id]);
      const outputs = j.product.doc.outputs as Record<string, Record<string, unknown>>;
      assert.type(outputs.classify?.category, 'string', 'classified by the model');
      assert.ok(
        Object.keys(outputs).some((s) => s.startsWith('extract.')),
        'through an extractor',
      );
      assert.ok(j.product.doc.route.includes('store'));
    }
  } finally {
    await stopAll(workers);
    await app.close();
  }
});

test.after(async () => {
  await server.stop();
});

test.run();
