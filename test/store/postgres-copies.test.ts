/**
 * The Postgres sink is idempotent per store-stream entry: a batch whose write committed but whose
 * ack was lost (a crash between commit and ack, a failover) comes again, reclaimed whole or split
 * otherwise, and `copies` counts none of its entries twice, however many entries of one key it had
 * (they had counted again: every entry but the stored one was "another entry"). Entries are known
 * by stream and id; a table from before migration 003 is migrated by `pipeline store migrate` and
 * keeps counting right.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import type { PipelineConfig } from '../../lib/config/types.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { noopMetrics } from '../../lib/observe/metrics.js';
import { Keys } from '../../lib/redis/keys.js';
import { listMigrations, migrate } from '../../stages/sinks/migrations/migrate.js';
import { createPostgresSink, POSTGRES_DEFAULTS } from '../../stages/sinks/postgres.js';
import { createStore, SINKS } from '../../stages/store.js';
import { BIN, exited, FAST } from '../helpers/pipeline.js';
import { findPostgresBin, PostgresServer } from '../helpers/postgres.js';
import { client, randomPipeline, startRedis } from '../helpers/redis.js';
import { reclaimedBatch, sameRecordAgain, storedVersion } from '../helpers/store-deliveries.js';

const pgBin = findPostgresBin();
if (!pgBin) {
  console.log('SKIP postgres-copies.test.ts: PostgreSQL server binaries not found (apt-get install -y postgresql, or set PG_BIN)');
  process.exit(0);
}
const redisServer = await startRedis();
const redis = client(redisServer.url);
const pgServer = await new PostgresServer({ bin: pgBin }).start();
const RAW = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../config/rules-only.json'), 'utf8')) as PipelineConfig;

/** A fresh database with `migrations` applied (default: all), and a pool on it. */
async function database(migrations?: string[]): Promise<{ url: string; db: pg.Pool; done: () => Promise<void> }> {
  const url = await pgServer.createDatabase(randomPipeline('db'));
  const db = new pg.Pool({ connectionString: url, max: 2 });
  let dir: string | undefined;
  if (migrations) {
    // An older release's schema: only its migration files.
    dir = mkdtempSync(join(tmpdir(), 'pipeline-migrations-'));
    const src = resolve(import.meta.dirname, '../../stages/sinks/migrations');
    for (const m of listMigrations(src).filter((m) => migrations.includes(m.version)))
      copyFileSync(join(src, `${m.version}_${m.name}.sql`), join(dir, `${m.version}_${m.name}.sql`));
  }
  await migrate(db, dir ? { dir } : {});
  return {
    url,
    db,
    done: async () => {
      await db.end();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

const copiesOf = async (db: pg.Pool) =>
  Object.fromEntries((await db.query<{ key: string; copies: number }>('SELECT key, copies FROM products ORDER BY key')).rows.map((r) => [r.key, r.copies]));

/** The store stage of a rules-only pipeline writing to the database at `url`, and its input stream. */
function postgresStore(url: string) {
  const stages = RAW.stages.map((s) => (s.kind === 'store' ? { ...s, settings: { sink: 'postgres', postgresUrl: url } } : s));
  const config = resolveConfig({ ...RAW, pipeline: randomPipeline(), stages, defaults: FAST }, 'test', { env: { REDIS_URL: redisServer.url } });
  const keys = new Keys(config.pipeline);
  const store = createStore({ config, stage: config.stages.find((s) => s.name === 'store')!, keys, redis, logger: silentLogger, metrics: noopMetrics });
  return { store, stream: keys.stream('store') };
}

test('a batch written but not acked, reclaimed whole and one entry at a time: copies counts each entry once (two entries of one key in it: 2, not 4)', async () => {
  const { url, db, done } = await database();
  const { store, stream } = postgresStore(url);
  try {
    await store.init?.();
    const { batch, again } = await reclaimedBatch({ redis, store, stream, name: 'store', group: 'store', copies: () => copiesOf(db) });
    const row = (await db.query('SELECT entry_id, entry_stream, applied_entries FROM products WHERE key = $1', ['b'])).rows[0];
    assert.equal(row, { entry_id: again[0]!.id, entry_stream: 'store', applied_entries: [`store/${batch[1]!.id}`, `store/${again[0]!.id}`] });
  } finally {
    await store.close?.();
    await done();
  }
});

test('the same record under a new store entry (the stage before ran again after a failover lost the entry its write committed for) is not a copy; a second production is', async () => {
  const { url, db, done } = await database();
  const { store, stream } = postgresStore(url);
  try {
    await store.init?.();
    await sameRecordAgain({ redis, store, stream, name: 'store', group: 'store', copies: () => copiesOf(db) });
    const row = (await db.query<{ applied_lineages: string[] }>('SELECT applied_lineages FROM products WHERE key = $1', ['r'])).rows[0];
    assert.is(row?.applied_lineages.length, 2, 'its two lineages kept');
  } finally {
    await store.close?.();
    await done();
  }
});

test('entries are known by stream and id: the same id in another stream (a fused upstream) is another entry; one re-delivered after 16 newer ones of its key counts again', async () => {
  const { url, db, done } = await database();
  const sink = createPostgresSink({ ...POSTGRES_DEFAULTS, url }, silentLogger);
  try {
    await sink.init();
    await sink.write([storedVersion('k', '5-0', '100-0', 'store')]);
    await sink.write([storedVersion('k', '5-0', '100-0', 'validate')]);
    assert.equal(await copiesOf(db), { k: 2 }, 'the same id in another stream');
    await sink.write([storedVersion('k', '5-0', '100-0', 'store'), storedVersion('k', '5-0', '100-0', 'validate')]);
    assert.equal(await copiesOf(db), { k: 2 }, 'both re-delivered, in one batch');
    // The row keeps its last 16 entries: a re-delivery older than that is counted (bounded memory per row).
    const newer = Array.from({ length: 16 }, (_, i) => storedVersion('k', '5-0', `${200 + i}-0`, 'store'));
    await sink.write(newer);
    assert.equal(await copiesOf(db), { k: 18 });
    await sink.write([storedVersion('k', '5-0', '215-0', 'store'), storedVersion('k', '5-0', '201-0', 'store')]);
    assert.equal(await copiesOf(db), { k: 18 }, 'the last 16 are known');
    await sink.write([storedVersion('k', '5-0', '100-0', 'validate')]);
    assert.equal(await copiesOf(db), { k: 19 }, 'an entry the row no longer keeps counts again');
  } finally {
    await sink.close();
    await done();
  }
});

test('settings.appliedEntriesKept: a store keeping 2 entries per row keeps 2 in applied_entries, and a re-delivery older than those counts again (16 had been fixed)', async () => {
  const { url, db, done } = await database();
  const stages = RAW.stages.map((s) => (s.kind === 'store' ? { ...s, settings: { sink: 'postgres', postgresUrl: url, appliedEntriesKept: 2 } } : s));
  const config = resolveConfig({ ...RAW, pipeline: randomPipeline(), stages, defaults: FAST }, 'test', { env: { REDIS_URL: redisServer.url } });
  const stage = config.stages.find((s) => s.name === 'store')!;
  const sink = SINKS.postgres!({ config, stage, keys: new Keys(config.pipeline), redis, logger: silentLogger, metrics: noopMetrics });
  try {
    await sink.init?.();
    await sink.write(['100-0', '101-0', '102-0'].map((id) => storedVersion('k', '5-0', id, 'store')));
    assert.equal(await copiesOf(db), { k: 3 });
    const kept = async () => (await db.query<{ applied_entries: string[] }>('SELECT applied_entries FROM products')).rows[0]!.applied_entries;
    assert.equal(await kept(), ['store/101-0', 'store/102-0'], 'the last 2 kept');
    await sink.write([storedVersion('k', '5-0', '101-0', 'store')]);
    assert.equal(await copiesOf(db), { k: 3 }, 'one of the last 2 is known');
    await sink.write([storedVersion('k', '5-0', '100-0', 'store')]);
    assert.equal(await copiesOf(db), { k: 4 }, 'an entry before the last 2 counts again');
  } finally {
    await sink.close();
    await done();
  }
});

test('upgrade: a table from before migration 003 is refused until `pipeline store migrate` adds the columns; its stored entry re-delivered then does not count', async () => {
  const { url, db, done } = await database(['001', '002']);
  const sink = createPostgresSink({ ...POSTGRES_DEFAULTS, url }, silentLogger);
  try {
    // A row the previous release stored (entry id only).
    await db.query(`INSERT INTO products (key, category, doc, entry_id, trace_id, version) VALUES ('k', 'c', '{"key":"k"}', '100-0', 't', $1)`, [
      '00000000000000000005-00000000000000000000',
    ]);
    const refused = await sink.init().then(
      () => '',
      (e: Error) => e.message,
    );
    assert.match(refused, /migration 004 is not applied .*run `pipeline store migrate`/);
    const child = spawn(process.execPath, [BIN, 'store', 'migrate', '--database-url', url], { env: { ...process.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    assert.is(await exited(child), 0, out);
    assert.equal(JSON.parse(out.trim().split('\n').pop()!).applied, ['003', '004'], out);
    await sink.init();
    await sink.write([storedVersion('k', '5-0', '100-0', 'store')]);
    assert.equal(await copiesOf(db), { k: 1 }, 'the stored entry again, now with its stream');
    await sink.write([storedVersion('k', '6-0', '101-0', 'store'), storedVersion('k', '6-0', '101-0', 'store')]);
    await sink.write([storedVersion('k', '6-0', '101-0', 'store')]);
    assert.equal(await copiesOf(db), { k: 2 }, 'a new entry counts once');
  } finally {
    await sink.close();
    await done();
  }
});

test.after(async () => {
  redis.disconnect();
  await redisServer.close();
  await pgServer.close();
});

test.run();
