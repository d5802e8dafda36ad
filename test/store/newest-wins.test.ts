import { Readable } from 'node:stream';
import pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { silentLogger } from '../../lib/observe/logger.js';
import { memoryMetrics } from '../../lib/observe/metrics.js';
import { produce } from '../../lib/producer/producer.js';
import { Keys } from '../../lib/redis/keys.js';
import { encodeEnvelope, FIELD_ENVELOPE, FIELD_KEY, newEnvelope } from '../../lib/stream/codec.js';
import { Worker } from '../../lib/worker/worker.js';
import { STAGES } from '../../stages/index.js';
import { postgresProducts, redisProducts, type ExportedProduct } from '../../stages/sinks/export.js';
import { migrate } from '../../stages/sinks/migrations/migrate.js';
import { createPostgresSink, POSTGRES_DEFAULTS } from '../../stages/sinks/postgres.js';
import { createRedisSink } from '../../stages/sinks/redis.js';
import type { Sink, StoredProduct } from '../../stages/sinks/sink.js';
import { FAST, rulesOnlyConfig } from '../helpers/pipeline.js';
import { findPostgresBin, PostgresServer } from '../helpers/postgres.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);
const pgBin = findPostgresBin();
const pgServer = pgBin ? await new PostgresServer({ bin: pgBin }).start() : undefined;

/** Version `origin` of product `key`, as the store stage builds it. */
const product = (key: string, origin: string | undefined, title: string, entryId = `${origin ?? '9'}-9`): StoredProduct => ({
  key,
  entryId,
  traceId: 't',
  category: 'c',
  fields: { brand: title },
  doc: { key, title },
  storedAt: Date.now(),
  ...(origin !== undefined ? { version: origin } : {}),
});

/**
 * Deliveries of product p1 out of order, to any sink; `read` gives back the stored title and copies.
 * The stream ids compare as numbers: 99-0 < 100-0 (as text it would be the other way round).
 */
async function reordered(sink: Sink, read: (key: string) => Promise<{ title: string; copies: number } | null>) {
  const stale = async (...ps: StoredProduct[]) => ((await sink.write(ps)) ?? { stale: 0 }).stale;
  assert.is(await stale(product('p1', '100-0', 'second')), 0);
  assert.is(await stale(product('p1', '99-0', 'first')), 1, 'an older delivery is dropped and counted');
  assert.equal(await read('p1'), { title: 'second', copies: 1 });
  assert.is(await stale(product('p1', '100-0', 'second')), 0, 'a re-delivery of the stored version is written (idempotent)');
  assert.equal(await read('p1'), { title: 'second', copies: 1 });
  assert.is(await stale(product('p1', '100-1', 'third'), product('p1', '100-0', 'second again', '100-0-b')), 1, 'within one batch too');
  assert.equal(await read('p1'), { title: 'third', copies: 2 });
  assert.is(await stale(product('p1', undefined, 'unversioned')), 0, 'a delivery without a version (older envelope) is written');
  assert.is((await read('p1'))!.title, 'unversioned');
  assert.is(await stale(product('p2', '5-0', 'a'), product('p3', '7-0', 'b')), 0);
}

/**
 * Versions rebuilt from one the pipeline had (`pipeline reprocess`, a review decision) are not
 * copies (every reprocess had added one to every product): only as a product's first store, or as
 * the stored version again from another lineage (the same one under another store entry is the
 * stage before running again, after a failover).
 */
async function rebuilt(sink: Sink, read: (key: string) => Promise<{ title: string; copies: number } | null>) {
  const again = (p: StoredProduct): StoredProduct => ({ ...p, rebuilt: true });
  await sink.write([product('q1', '20-0', 'produced')]);
  await sink.write([again(product('q1', '20-1', 'reprocessed'))]);
  assert.equal(await read('q1'), { title: 'reprocessed', copies: 1 }, 'a reprocessed version is not a copy');
  await sink.write([again(product('q1', '20-3', 'decided')), again(product('q1', '20-3', 'decided', '20-3-b'))]);
  assert.equal(await read('q1'), { title: 'decided', copies: 1 }, 'nor the same rebuilt version from another store entry of its lineage');
  await sink.write([{ ...again(product('q1', '20-3', 'decided', '20-3-c')), traceId: 't2' }]);
  assert.equal(await read('q1'), { title: 'decided', copies: 2 }, 'the stored version again from another lineage is');
  await sink.write([again(product('q2', '30-2', 'decided first'))]);
  assert.equal(await read('q2'), { title: 'decided first', copies: 1 }, "a rebuilt version as the product's first store counts");
}

test('Redis sink: newest wins by the input entry id, not arrival order; older deliveries dropped and counted; rebuilt versions are not copies', async () => {
  const keys = new Keys(randomPipeline());
  const read = async (key: string) => {
    const h = await redis.hgetall(keys.product(key));
    return h.doc ? { title: (JSON.parse(h.doc) as { title: string }).title, copies: Number(h.copies) } : null;
  };
  await reordered(createRedisSink(redis, keys), read);
  await rebuilt(createRedisSink(redis, keys), read);
});

test('Postgres sink: newest wins by the input entry id; older deliveries (across batches and within one) dropped and counted; rebuilt versions are not copies', async () => {
  if (!pgServer)
    return console.log('SKIP newest-wins.test.ts (Postgres sink): PostgreSQL server binaries not found (apt-get install -y postgresql, or set PG_BIN)');
  const url = await pgServer.createDatabase(randomPipeline('db'));
  const db = new pg.Pool({ connectionString: url, max: 1 });
  try {
    assert.equal((await migrate(db)).applied, ['001', '002', '003', '004']);
    const sink = createPostgresSink({ ...POSTGRES_DEFAULTS, url }, silentLogger);
    await sink.init();
    try {
      const read = async (key: string) => {
        const r = await db.query<{ doc: { title: string }; copies: number }>('SELECT doc, copies FROM products WHERE key = $1', [key]);
        return r.rows[0] ? { title: r.rows[0].doc.title, copies: r.rows[0].copies } : null;
      };
      await reordered(sink, read);
      await rebuilt(sink, read);
    } finally {
      await sink.close();
    }
  } finally {
    await db.end();
  }
});

/**
 * Batches of deliveries, several of one key in one batch: the same record produced twice (two
 * versions), re-deliveries, equal versions of other entries (one lineage: the same record again), older ones, unversioned envelopes.
 */
const BATCHES: [key: string, origin: string | undefined, title: string, entryId: string][][] = [
  [
    ['a', '10-0', 'a1', 's1'],
    ['a', '11-0', 'a2', 's2'],
    ['b', '5-0', 'b1', 's3'],
    ['b', '5-0', 'b1', 's3'],
    ['b', '6-0', 'b2', 's4'],
  ],
  [
    ['a', '9-0', 'a0', 's5'],
    ['a', '12-0', 'a3', 's6'],
    ['a', '11-5', 'a2b', 's7'],
    ['c', '3-0', 'c1', 's8'],
    ['c', '2-0', 'c0', 's9'],
  ],
  [
    ['a', '12-0', 'a3', 's6'],
    ['a', '12-0', 'a3', 's10'],
    ['b', '6-0', 'b2', 's4'],
    ['c', '1-0', 'c-old', 's11'],
    ['c', '1-5', 'c-old2', 's12'],
  ],
  [
    ['d', undefined, 'd1', 's13'],
    ['d', '7-0', 'd2', 's14'],
    ['d', '7-0', 'd2', 's14'],
    ['e', '8-0', 'e1', 's15'],
    ['e', '8-0', 'e2', 's16'],
  ],
];

/** The BATCHES through `sink`: the stale count of each batch. */
async function applyBatches(sink: Sink): Promise<number[]> {
  const stale: number[] = [];
  for (const batch of BATCHES) {
    const r = await sink.write(batch.map(([key, origin, title, entryId]) => ({ ...product(key, origin, title, entryId), storedAt: 1_700_000_000_000 })));
    stale.push(r?.stale ?? 0);
  }
  return stale;
}

const byKey = (ps: ExportedProduct[]) => ps.sort((x, y) => x.key.localeCompare(y.key));

test('both sinks store and export the same for the same deliveries, however they are batched (the same record under two entries of one batch: copies 1 on both)', async () => {
  if (!pgServer)
    return console.log('SKIP newest-wins.test.ts (same export): PostgreSQL server binaries not found (apt-get install -y postgresql, or set PG_BIN)');
  const keys = new Keys(randomPipeline());
  const redisStale = await applyBatches(createRedisSink(redis, keys));
  const redisExport: ExportedProduct[] = [];
  for await (const p of redisProducts(redis, keys)) redisExport.push(p);
  const url = await pgServer.createDatabase(randomPipeline('db'));
  const db = new pg.Pool({ connectionString: url, max: 1 });
  const sink = createPostgresSink({ ...POSTGRES_DEFAULTS, url }, silentLogger);
  try {
    await migrate(db);
    const pgStale = await applyBatches(sink);
    const pgExport: ExportedProduct[] = [];
    for await (const p of postgresProducts(db, 'public')) pgExport.push(p);
    // What upsert-product-5.lua makes of them, entry after entry.
    assert.equal(
      byKey(redisExport).map((p) => [p.key, p.doc.title, p.copies, p.version, p.entryId]),
      [
        ['a', 'a3', 3, '12-0', 's10'],
        ['b', 'b2', 2, '6-0', 's4'],
        ['c', 'c1', 1, '3-0', 's8'],
        ['d', 'd2', 2, '7-0', 's14'],
        ['e', 'e2', 1, '8-0', 's16'],
      ],
    );
    assert.equal(redisStale, [0, 3, 2, 0]);
    assert.equal(pgStale, redisStale, 'store.stale_dropped counts the same');
    assert.equal(byKey(pgExport), byKey(redisExport), 'the same export');
  } finally {
    await sink.close();
    await db.end();
  }
});

test('end to end: the first stage stamps the input entry id; store-stream deliveries handed to the store out of order leave the newest stored', async () => {
  const config = rulesOnlyConfig(server.url, randomPipeline(), FAST);
  const keys = new Keys(config.pipeline);
  // Produced twice: the second production is the newer version.
  const lines = [JSON.stringify({ id: 'x1', title: 'old title' }), JSON.stringify({ id: 'x1', title: 'new title' })];
  await produce(redis, Readable.from([lines.join('\n')]), { stream: keys.stream('in'), source: 'test', maxRecordBytes: 65536 });
  const inputIds = (await redis.xrange(keys.stream('in'), '-', '+')).map(([id]) => id);
  // Then, by hand, the store stream receives the two versions reversed (as a slow route, a retry or a reclaim would deliver them).
  const envs = lines.map((l, i) => ({
    ...newEnvelope(JSON.parse(l) as { id: string; title: string }),
    origin: inputIds[i]!,
    outputs: { preprocess: { title: JSON.parse(l).title } },
  }));
  for (const env of [envs[1]!, envs[0]!]) await redis.xadd(keys.stream('store'), '*', FIELD_KEY, env.key, FIELD_ENVELOPE, encodeEnvelope(env));
  const metrics = memoryMetrics();
  const store = new Worker({ config, stage: 'store', stages: STAGES, logger: silentLogger, metrics });
  const running = store.run();
  try {
    const pending = async () => ((await redis.xpending(keys.stream('store'), 'store').catch(() => [1])) as [number])[0];
    await waitFor('the store took both', async () => (await redis.hget(keys.product('x1'), 'version')) !== null && (await pending()) === 0);
  } finally {
    await store.stop();
    await running;
  }
  const h = await redis.hgetall(keys.product('x1'));
  assert.is(h.version, inputIds[1], 'the version is the input entry id of the newer production');
  assert.is((JSON.parse(h.doc!) as { input: { title: string } }).input.title, 'new title');
  assert.is(
    metrics.records.filter((r) => r.name === 'store.stale_dropped').reduce((n, r) => n + r.value, 0),
    1,
  );
});

test('the first stage stamps each envelope with its input-stream entry id (origin); later stages keep it', async () => {
  const config = rulesOnlyConfig(server.url, randomPipeline(), FAST);
  const keys = new Keys(config.pipeline);
  await produce(redis, Readable.from([JSON.stringify({ id: 'y1', title: 'T' })]), { stream: keys.stream('in'), source: 'test', maxRecordBytes: 65536 });
  const inputId = (await redis.xrange(keys.stream('in'), '-', '+'))[0]![0];
  const workers = config.stages.map((s) => new Worker({ config, stage: s.name, stages: STAGES, logger: silentLogger }));
  const running = workers.map((w) => w.run());
  try {
    await waitFor('stored', async () => (await redis.hget(keys.product('y1'), 'version')) !== null);
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await Promise.all(running);
  }
  // preprocess stamped it, store kept it as the stored version (the store stream itself is trimmed once acked).
  assert.is(await redis.hget(keys.product('y1'), 'version'), inputId);
});

test.after(async () => {
  await pgServer?.close();
});

test.run();
