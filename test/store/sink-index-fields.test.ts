/**
 * The indexed fields a sink keeps beside the document (brand, mpn, gtin, gtinValid, duplicateOf,
 * reviewedBy, confidence) mirror the stored version: a newer version without one of them removes
 * it (the Redis sink's hash had kept the older version's brand and mpn, which export and the API
 * served next to a document that no longer had them). Both sinks, through the store stage end to
 * end, and as the store's ACL user.
 */
import { Readable } from 'node:stream';
import { Redis } from 'ioredis';
import pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { aclUsers, applyAcl } from '../../lib/ops/acl.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { produce } from '../../lib/producer/producer.js';
import { Keys } from '../../lib/redis/keys.js';
import { stageDataAccess } from '../../stages/access.js';
import { postgresProducts, readRedisProduct, redisProducts, type ExportedProduct } from '../../stages/sinks/export.js';
import { migrate } from '../../stages/sinks/migrations/migrate.js';
import { createPostgresSink, POSTGRES_DEFAULTS } from '../../stages/sinks/postgres.js';
import { createRedisSink } from '../../stages/sinks/redis.js';
import type { Sink, StoredProduct } from '../../stages/sinks/sink.js';
import { FAST, rulesOnlyConfig, startWorkers, stopAll } from '../helpers/pipeline.js';
import { findPostgresBin, PostgresServer } from '../helpers/postgres.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);
const pgBin = findPostgresBin();
const pgServer = pgBin ? await new PostgresServer({ bin: pgBin }).start() : undefined;

const version = (origin: string, fields: StoredProduct['fields']): StoredProduct => ({
  key: 'p1',
  entryId: `${origin}-s`,
  version: origin,
  traceId: 't',
  category: 'mice',
  fields,
  doc: { key: 'p1', origin },
  storedAt: 1_700_000_000_000,
});

/** Every indexed field set, then a newer version with only a brand of its own and a confidence. */
const FULL = { brand: 'Logitech', mpn: '910-001822', gtin: '097855066466', gtinValid: true, duplicateOf: 'p0', reviewedBy: 'admin-1', confidence: 0.9 };
const LEAN = { brand: 'Generic', confidence: 0.4 };

async function writeBoth(sink: Sink): Promise<void> {
  await sink.write([version('10-0', FULL)]);
  await sink.write([version('11-0', LEAN)]);
  // An older delivery of the first version afterwards is dropped: it brings nothing back.
  assert.is((await sink.write([version('10-0', FULL)]))?.stale, 1);
}

/** What export (and `GET /v1/products/:id`) says of the indexed fields. */
const indexed = (p: ExportedProduct | null | undefined) =>
  p && { brand: p.brand, mpn: p.mpn, gtin: p.gtin, gtinValid: p.gtinValid, duplicateOf: p.duplicateOf };
const EXPECTED = { brand: 'Generic', mpn: null, gtin: null, gtinValid: null, duplicateOf: null };

test('Redis sink: a newer version without mpn, gtin, gtinValid, duplicateOf, reviewedBy removes them from the hash; export and the API reader serve the newer one', async () => {
  const keys = new Keys(randomPipeline());
  await writeBoth(createRedisSink(redis, keys));
  const h = await redis.hgetall(keys.product('p1'));
  assert.is(h.version, '11-0');
  assert.equal(
    Object.keys(h)
      .filter((f) => f in FULL)
      .sort(),
    ['brand', 'confidence'],
    'only the fields the stored version has',
  );
  assert.is(h.brand, 'Generic');
  assert.equal(indexed(await readRedisProduct(redis, keys, 'p1')), EXPECTED);
  const exported: ExportedProduct[] = [];
  for await (const p of redisProducts(redis, keys)) exported.push(p);
  assert.equal(exported.map(indexed), [EXPECTED]);
});

test('Postgres sink: the same deliveries leave the absent columns NULL', async () => {
  if (!pgServer)
    return console.log('SKIP sink-index-fields.test.ts (Postgres sink): PostgreSQL server binaries not found (apt-get install -y postgresql, or set PG_BIN)');
  const url = await pgServer.createDatabase(randomPipeline('db'));
  const db = new pg.Pool({ connectionString: url, max: 1 });
  const sink = createPostgresSink({ ...POSTGRES_DEFAULTS, url }, silentLogger);
  try {
    await migrate(db);
    await sink.init();
    await writeBoth(sink);
    const exported: ExportedProduct[] = [];
    for await (const p of postgresProducts(db, 'public')) exported.push(p);
    assert.equal(exported.map(indexed), [EXPECTED]);
  } finally {
    await sink.close();
    await db.end();
  }
});

/** The store's ACL user of `config`, by `applyAcl`; `drop` leaves commands out of its data grants (a user applied by an older release). */
async function storeUser(config: ReturnType<typeof rulesOnlyConfig>, drop: string[] = []): Promise<Redis> {
  const users = aclUsers(config, {
    dataAccess: (stage, keys) => stageDataAccess(stage, keys).map((g) => ({ ...g, commands: g.commands.filter((c) => !drop.includes(c)) })),
  });
  await applyAcl(redis, users);
  return new Redis(users.find((u) => u.stage === 'store')!.url, { maxRetriesPerRequest: 1 });
}

test('as the store ACL user: the upsert may remove a field (HDEL)', async () => {
  const config = rulesOnlyConfig(server.url, randomPipeline());
  const store = await storeUser(config);
  try {
    const keys = new Keys(config.pipeline);
    await writeBoth(createRedisSink(store, keys));
    assert.equal(indexed(await readRedisProduct(redis, keys, 'p1')), EXPECTED);
  } finally {
    store.disconnect();
  }
});

test('a store user applied before the upgrade (no HDEL): a version that drops nothing is stored; one that drops a field is refused by the ACL before any write', async () => {
  const config = rulesOnlyConfig(server.url, randomPipeline());
  const store = await storeUser(config, ['hdel']);
  try {
    const keys = new Keys(config.pipeline);
    const sink = createRedisSink(store, keys);
    await sink.write([version('10-0', FULL)]);
    await sink.write([version('10-1', { ...FULL, brand: 'Logi' })]);
    assert.is(await redis.hget(keys.product('p1'), 'brand'), 'Logi');
    const err = await sink.write([version('11-0', LEAN)]).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    assert.match(String(err?.message), /can't run this command|NOPERM/, 'refused by the ACL');
    const h = await redis.hgetall(keys.product('p1'));
    assert.equal([h.version, h.brand, h.copies, h.mpn], ['10-1', 'Logi', '2', '910-001822'], 'the hash as it was: nothing half-written');
  } finally {
    store.disconnect();
  }
});

test('end to end: a record produced again without brand and mpn is exported without them (the store stage summarizes, the sink mirrors)', async () => {
  const config = rulesOnlyConfig(server.url, randomPipeline(), FAST);
  const keys = new Keys(config.pipeline);
  const workers = startWorkers(config);
  const send = (line: Record<string, string>) =>
    produce(redis, Readable.from([JSON.stringify(line)]), { stream: keys.stream('in'), source: 'test', maxRecordBytes: 65536 });
  try {
    await send({ id: 'stale-1', title: 'Logitech M510 Wireless Mouse', brand: 'Logitech', mpn: '910-001822' });
    await waitFor('first version stored', async () => (await readRedisProduct(redis, keys, 'stale-1'))?.mpn === '910-001822');
    const first = (await redis.hget(keys.product('stale-1'), 'version'))!;
    await send({ id: 'stale-1', title: 'Wireless Mouse' });
    await waitFor('second version stored', async () => ![null, first].includes(await redis.hget(keys.product('stale-1'), 'version')));
  } finally {
    await stopAll(workers);
  }
  const p = (await readRedisProduct(redis, keys, 'stale-1'))!;
  assert.is((p.doc.input as { title: string }).title, 'Wireless Mouse');
  assert.is(p.brand, null, 'the first version’s brand is gone');
  assert.is(p.mpn, null, 'the first version’s mpn is gone');
});

test.after(async () => {
  await pgServer?.close();
});

test.run();
