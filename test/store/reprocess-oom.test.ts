/**
 * `pipeline reprocess` while Redis is full: a put-back refused mid-batch (OOM: the memory reading
 * before the batch was under the limit) is retried until Redis takes it, not a failed run (it had
 * exited 15); a run that fails or is stopped prints the totals so far (it printed nothing).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { reprocess, type StoredProductRef } from '../../lib/ops/reprocess.js';
import { Keys } from '../../lib/redis/keys.js';
import { createRedisSink } from '../../stages/sinks/redis.js';
import { cli, exited, rulesOnlyConfig, writeConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);

/** A stored product that went preprocess → validate → store, its title `size` characters long. */
const stored = (key: string, size: number, i: number): StoredProductRef => ({
  key,
  category: 'tools',
  entryId: `${i + 1}-0`,
  traceId: `t${i}`,
  storedAt: new Date().toISOString(),
  version: `${i + 1}-0`,
  doc: {
    key,
    input: { id: key, title: `${key} `.padEnd(size, 'x') },
    outputs: { preprocess: { text: key }, validate: { gtinValid: null } },
    route: ['preprocess', 'validate', 'store'],
    hops: ['preprocess', 'validate'].map((stage, j) => ({ stage, consumer: 'c', readAt: j, doneAt: j, batch: 1 })),
  },
});

async function seed(config: ResolvedConfig, products: StoredProductRef[]): Promise<Keys> {
  const keys = new Keys(config.pipeline);
  const sink = createRedisSink(redis, keys);
  await sink.write(products.map((p) => ({ ...p, fields: {}, storedAt: Date.now(), version: p.version! })));
  return keys;
}

const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);

async function* each<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}

test('a batch that fills Redis: the refused put-backs wait and go in once there is room (reprocess had failed with OOM)', async () => {
  const config = rulesOnlyConfig(server.url, randomPipeline('oom'));
  // One large product first: under the limit when the batch starts, over it once that is added.
  const products = [stored('big', 1_500_000, 0), ...Array.from({ length: 20 }, (_, i) => stored(`s${i}`, 200, i + 1))];
  const keys = await seed(config, products);
  await redis.config('SET', 'maxmemory', String((await usedMemory()) + 1_000_000));
  const retried: string[] = [];
  try {
    const run = reprocess(redis, config, each(products), {
      current: {},
      fromStage: 'validate',
      retryBaseMs: 10,
      retryMaxMs: 50,
      onRetry: (err) => retried.push((err as Error).message),
    });
    await waitFor('a refused put-back', () => retried.length > 0);
    assert.match(retried[0]!, /^OOM/);
    await redis.config('SET', 'maxmemory', '0');
    const summary = await run;
    assert.is(summary.reprocessed, products.length, 'every product put back');
    assert.is(await redis.xlen(keys.stream(config.stages.find((s) => s.name === 'validate')!.input)), products.length, 'each once');
  } finally {
    await redis.config('SET', 'maxmemory', '0');
  }
});

/** The CLI's stdout JSON lines. */
const events = (out: string) =>
  out
    .split('\n')
    .filter((l) => l.startsWith('{"event":"reprocess.'))
    .map((l) => JSON.parse(l) as { event: string; scanned: number; reprocessed: number; error?: string; signal?: string });

test('Ctrl-C while reprocess waits for a full Redis: exit 130 with the totals so far on stdout', async () => {
  const pipeline = randomPipeline('oom');
  const config = rulesOnlyConfig(server.url, pipeline);
  await seed(
    config,
    Array.from({ length: 5 }, (_, i) => stored(`c${i}`, 200, i)),
  );
  await redis.config('SET', 'maxmemory', '1');
  try {
    const child = cli(['--config', writeConfig(pipeline), 'reprocess', '--from-stage', 'validate', '--backpressure-poll', '50'], server.url);
    await waitFor('reprocess waiting', () => /reprocess: waiting for stage validate/.test(child.output()), 30_000);
    child.kill('SIGINT');
    assert.is(await exited(child), 130, child.output());
    const [line, ...more] = events(child.output());
    assert.equal(more, []);
    assert.equal([line?.event, line?.signal, line?.scanned, line?.reprocessed], ['reprocess.stopped', 'SIGINT', 5, 0], child.output());
  } finally {
    await redis.config('SET', 'maxmemory', '0');
  }
});

test('Redis full past --retry-for: the run fails naming OOM, with the totals so far on stdout', async () => {
  const pipeline = randomPipeline('oom');
  const config = rulesOnlyConfig(server.url, pipeline);
  await seed(
    config,
    Array.from({ length: 6 }, (_, i) => stored(`f${i}`, 600_000, i)),
  );
  await redis.config('SET', 'maxmemory', String((await usedMemory()) + 1_000_000));
  try {
    const child = cli(['--config', writeConfig(pipeline), 'reprocess', '--from-stage', 'validate', '--retry-for', '300'], server.url);
    const code = await exited(child);
    assert.ok(code !== 0, child.output());
    assert.match(child.output(), /reprocess: waiting: Redis is full: OOM command not allowed .*\(server setting `maxmemory`/);
    const [line] = events(child.output());
    assert.is(line?.event, 'reprocess.failed', child.output());
    assert.match(line!.error!, /^OOM/);
    assert.is(line!.scanned, 6);
    assert.ok(line!.reprocessed >= 1 && line!.reprocessed < 6, child.output());
  } finally {
    await redis.config('SET', 'maxmemory', '0');
  }
});

test.run();
