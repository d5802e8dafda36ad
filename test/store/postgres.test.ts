import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeEnvelope, entryFields, newTraceId, type Message } from '../../lib/stream/codec.js';
import { resolveConfig } from '../../lib/config/load.js';
import type { PipelineConfig, ResolvedConfig, StageOptions } from '../../lib/config/types.js';
import { toEntries } from '../../lib/stream/entries.js';
import { isIdle, pipelineStatus } from '../../lib/ops/inspect.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { noopMetrics } from '../../lib/observe/metrics.js';
import { produce } from '../../lib/producer/producer.js';
import { Keys } from '../../lib/redis/keys.js';
import { Worker } from '../../lib/worker/worker.js';
import { STAGES } from '../../stages/index.js';
import { createStore } from '../../stages/store.js';
import { BIN, exited, FAST, writeConfig } from '../helpers/pipeline.js';
import { findPostgresBin, PostgresServer } from '../helpers/postgres.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';

const pgBin = findPostgresBin();
if (!pgBin) {
  // CI installs it (.ci/run); a machine without the package skips, saying so.
  console.log('SKIP postgres.test.ts: PostgreSQL server binaries not found (apt-get install -y postgresql, or set PG_BIN)');
  process.exit(0);
}

const redisServer = await startRedis();
const redis = client(redisServer.url);
const pgServer = await new PostgresServer({ bin: pgBin }).start();
const pools: pg.Pool[] = [];

const RAW = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../config/rules-only.json'), 'utf8')) as PipelineConfig;

/** The rules-only stages with the store writing to postgres (URL in settings, or from DATABASE_URL when omitted). */
function pgStages(settings: Record<string, unknown>): PipelineConfig['stages'] {
  return RAW.stages.map((s) => (s.kind === 'store' ? { ...s, settings: { sink: 'postgres', postgresConnectTimeoutMs: 1000, ...settings } } : s));
}

function pgConfig(pipeline: string, settings: Record<string, unknown>, defaults: Partial<StageOptions> = {}): ResolvedConfig {
  return resolveConfig({ ...RAW, pipeline, stages: pgStages(settings), defaults: { ...FAST, ...defaults } }, 'test', { env: { REDIS_URL: redisServer.url } });
}

/** A fresh database, migrated with `pipeline store migrate` (run twice: the second run applies nothing). */
async function freshDatabase(): Promise<{ url: string; db: pg.Pool }> {
  const url = await pgServer.createDatabase(randomPipeline('db'));
  for (const expect of [['001', '002', '003', '004'], []]) {
    const out = await cliOutput(['store', 'migrate', '--database-url', url]);
    assert.equal(JSON.parse(out.trim().split('\n').pop()!).applied, expect, out);
  }
  const db = new pg.Pool({ connectionString: url, max: 2 });
  db.on('error', () => undefined); // the outage test stops the server under it; queries report their own errors
  pools.push(db);
  return { url, db };
}

function cliOutput(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, REDIS_URL: redisServer.url, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return exited(child).then((code) => {
    if (code !== 0) throw new Error(`pipeline ${args.join(' ')} exited ${code}: ${out}`);
    return out;
  });
}

function startWorkers(config: ResolvedConfig, only?: string[]): Worker[] {
  return config.stages
    .filter((s) => !only || only.includes(s.name))
    .map((s) => {
      const w = new Worker({ config, stage: s.name, stages: STAGES, logger: silentLogger });
      w.run().catch((err) => console.error('worker failed', s.name, err));
      return w;
    });
}

const records = (n: number, from = 0) =>
  Array.from({ length: n }, (_, j) => {
    const i = from + j;
    return {
      id: `p${i}`,
      title: `Product ${i}`,
      brand: i % 2 ? 'Acme' : undefined,
      ...(i % 3 === 0 ? { mpn: `MX-${i}` } : {}),
      ...(i % 5 === 0 ? { description: `UPC 036000291452 item ${i}` } : {}),
    };
  });

async function produceRecords(config: ResolvedConfig, rs: ReturnType<typeof records>): Promise<void> {
  const s = await produce(redis, Readable.from([rs.map((r) => JSON.stringify(r)).join('\n')]), {
    stream: new Keys(config.pipeline).stream(config.input),
    source: 'test',
    maxRecordBytes: 65536,
  });
  assert.is(s.produced, rs.length);
}

/** Signal a child and wait for it to be gone (exited or killed). */
async function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((res) => child.once('exit', () => res()));
  child.kill(signal);
  await gone;
}

const count = async (db: pg.Pool) => Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM products')).rows[0]!.n);
const storeGroup = async (config: ResolvedConfig) => (await pipelineStatus(redis, config)).streams.find((s) => s.stage === 'store')!.group!;

test('re-processing the same store entries does not duplicate rows: copies stays 1, also for a record under a new entry; a new production of the key counts 2', async () => {
  const { url, db } = await freshDatabase();
  const pipeline = randomPipeline();
  const config = resolveConfig({ ...RAW, pipeline, stages: pgStages({ postgresUrl: url }), streams: { trimAcked: false }, defaults: FAST }, 'test', {
    env: { REDIS_URL: redisServer.url },
  });
  const workers = startWorkers(config);
  try {
    await produceRecords(config, records(50));
    await waitFor('50 rows', async () => (await count(db)) === 50 && isIdle(await pipelineStatus(redis, config)));
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
  const row = (await db.query('SELECT * FROM products WHERE key = $1', ['p15'])).rows[0];
  assert.equal(
    [row.category, row.brand, row.mpn, row.gtin, row.gtin_valid, row.copies, row.doc.route],
    ['uncategorized', 'Acme', 'MX-15', '036000291452', true, 1, ['preprocess', 'validate', 'store']],
  );
  assert.ok(row.stored_at instanceof Date && row.produced_at <= row.stored_at);
  assert.is(row.doc.input.title, 'Product 15');
  assert.ok(row.doc.hops.length === 2 && row.doc.outputs.validate.gtinValid === true);

  // Deliver every store entry again to a store stage: same entry ids, so nothing is counted twice.
  const keys = new Keys(pipeline);
  const entries = toEntries((await redis.xrangeBuffer(keys.stream('store'), '-', '+')) as never);
  assert.is(entries.length, 50);
  const messages: Message[] = entries.map((e) => ({ id: e.id, stream: 'store', envelope: decodeEnvelope(entryFields(e.fields).payload!) }));
  const store = createStore({ config, stage: config.stages.find((s) => s.name === 'store')!, keys, redis, logger: silentLogger, metrics: noopMetrics });
  try {
    for (let round = 0; round < 2; round++) {
      const results = await store.process(messages);
      assert.ok(results.every((r) => r.ok));
    }
    const again = { ...messages[7]!.envelope, traceId: newTraceId(), origin: '9999999999998-0' };
    const twice = [messages[7]!, { ...messages[7]!, id: '9999999999999-0', envelope: again }, { ...messages[8]!, id: '9999999999999-1' }];
    assert.ok((await store.process(twice)).every((r) => r.ok));
  } finally {
    await store.close?.();
  }
  const copies = (await db.query<{ key: string; copies: number; entry_id: string }>('SELECT key, copies, entry_id FROM products ORDER BY key')).rows;
  assert.is(copies.length, 50);
  assert.equal(
    copies.filter((c) => c.copies !== 1).map((c) => [c.key, c.copies, c.entry_id]),
    [[messages[7]!.envelope.key, 2, '9999999999999-0']],
  );
});

test('a store worker SIGKILLed mid-batch loses nothing: after restart and reclaim every product is there exactly once', async () => {
  const { url, db } = await freshDatabase();
  const pipeline = randomPipeline();
  const N = 300;
  const defaults = { ...FAST, batchSize: 10, claimMinIdleMs: 1000 };
  const config = pgConfig(pipeline, {}, defaults);
  const file = writeConfig(pipeline, defaults, { stages: pgStages({}) });
  // The child gets the database from DATABASE_URL (the store settings name none).
  const storeWorker = (): ChildProcess =>
    spawn(process.execPath, [BIN, '--config', file, 'worker', 'store'], {
      env: { ...process.env, REDIS_URL: redisServer.url, DATABASE_URL: url, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  const locker = new pg.Client({ connectionString: url });
  await locker.connect(); // before the workers start: its failure leaves nothing running outside the try
  const upstream = startWorkers(config, ['preprocess', 'validate']);
  let child = storeWorker();
  try {
    await produceRecords(config, records(100));
    await waitFor('the first 100 stored', async () => (await count(db)) === 100, 30_000);
    // Hold the table so the worker's next batch blocks inside its INSERT, then kill it there.
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE products IN SHARE MODE');
    await produceRecords(config, records(N - 100, 100));
    await waitFor(
      'store worker blocked mid-batch',
      async () => {
        const r = await db.query(
          "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pipeline:store' AND wait_event_type = 'Lock'",
        );
        return r.rowCount === 1;
      },
      30_000,
    );
    await stopChild(child, 'SIGKILL');
    const pending = await storeGroup(config);
    assert.ok(pending.pending > 0, 'the killed worker held unacked entries');
    await locker.query('ROLLBACK');

    child = storeWorker();
    await waitFor('every product stored after restart and reclaim', async () => (await count(db)) === N && isIdle(await pipelineStatus(redis, config)), 40_000);
  } finally {
    await stopChild(child, 'SIGTERM');
    await locker.end();
    await Promise.all(upstream.map((w) => w.stop()));
  }
  const rows = (await db.query<{ copies: number }>('SELECT copies FROM products')).rows;
  assert.is(rows.length, N);
  assert.ok(
    rows.every((r) => r.copies === 1),
    'no product written by two distinct entries',
  );
  assert.is(await redis.xlen(new Keys(pipeline).dlq), 0);
  assert.is((await storeGroup(config)).pending, 0);
});

test('postgres stopped mid-run: nothing acked or dead-lettered, deliveries not burned; after it restarts everything lands', async () => {
  const { url, db } = await freshDatabase();
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  // maxDeliveries 2 with 10-50 ms retries: counting outage retries would dead-letter within a second.
  // claimMinIdleMs stays well above keepClaimedMs (100), so a CPU-starved keep-claimed reset on a loaded machine
  // does not let the worker's own reclaimer take (and count) its in-flight batch.
  const config = pgConfig(pipeline, { postgresUrl: url }, { maxDeliveries: 2, claimMinIdleMs: 1500, batchSize: 16 });
  const workers = startWorkers(config);
  let down = false;
  try {
    await produceRecords(config, records(40));
    await waitFor('first 40 stored', async () => (await count(db)) === 40 && isIdle(await pipelineStatus(redis, config)));

    await pgServer.stop();
    down = true;
    await produceRecords(config, records(60, 40));
    await waitFor(
      'all 60 passed preprocess and validate',
      async () => {
        const st = await pipelineStatus(redis, config);
        return st.streams.filter((x) => x.stage && x.stage !== 'store').every((x) => x.group?.lag === 0 && x.group.pending === 0);
      },
      10_000,
    );
    await new Promise((r) => setTimeout(r, 2_500)); // dozens of retries, and past claimMinIdleMs
    const g = await storeGroup(config);
    const undelivered = (await redis.xrange(keys.stream('store'), `(${g.lastDeliveredId}`, '+')).length;
    assert.is(g.pending + undelivered, 60, 'nothing acked while postgres is down');
    assert.ok(g.pending > 0 && g.pending <= 32, `one batch in flight and at most one read ahead, the rest not read (${g.pending} pending)`);
    const detail = (await redis.xpending(keys.stream('store'), 'store', '-', '+', 100)) as [string, string, number, number][];
    assert.ok(
      detail.every(([, , , deliveries]) => deliveries === 1),
      `deliveries burned: ${JSON.stringify(detail.map((d) => d[3]))}`,
    );
    assert.is(await redis.xlen(keys.dlq), 0, 'nothing dead-lettered');

    await pgServer.start();
    down = false;
    await waitFor(
      'all 100 stored after postgres is back',
      async () => (await count(db).catch(() => -1)) === 100 && isIdle(await pipelineStatus(redis, config)),
      30_000,
    );
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    if (down) await pgServer.start(); // a failed assertion must not leave the next tests without a database
  }
  assert.is(await redis.xlen(keys.dlq), 0);
  const rows = (await db.query<{ copies: number }>('SELECT copies FROM products')).rows;
  assert.ok(rows.length === 100 && rows.every((r) => r.copies === 1));
});

test('a database that refuses every write (read-only, as a demoted primary is) holds the records back, none dead-lettered; a NUL in a key is stored', async () => {
  const { url, db } = await freshDatabase();
  const name = new URL(url).pathname.slice(1);
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  const config = pgConfig(pipeline, { postgresUrl: url }, { maxDeliveries: 2, claimMinIdleMs: 1500, batchSize: 16 });
  await db.query(`ALTER DATABASE "${name}" SET default_transaction_read_only = on`);
  const workers = startWorkers(config);
  try {
    const rs = records(20);
    (rs[3] as Record<string, unknown>).attrs = { 'co\u0000lor': 'red' }; // Postgres text holds no NUL, in keys either
    await produceRecords(config, rs);
    await new Promise((r) => setTimeout(r, 2_500)); // dozens of 25006 refusals, each retried
    assert.is(await redis.xlen(keys.dlq), 0, 'nothing dead-lettered for a refusal that is no record’s fault (25006 had been poison)');
    assert.is(await count(db), 0);
    await db.query(`ALTER DATABASE "${name}" SET default_transaction_read_only = off`);
    // The pooled sessions keep the setting they started with: end them, as a failover would.
    await db.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]).catch(() => undefined);
    await waitFor('all 20 stored once writes are taken', async () => (await count(db).catch(() => -1)) === 20, 20_000);
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
  assert.is(await redis.xlen(keys.dlq), 0);
  const odd = (await db.query('SELECT doc FROM products WHERE key = $1', ['p3'])).rows[0];
  assert.equal(odd.doc.input.attrs, { 'co\uFFFDlor': 'red' });
});

test('a database that cannot be reached is named as PostgreSQL, not Redis (migrate, export, reprocess)', async () => {
  const bad = 'postgres://u:secret@127.0.0.1:1/nodb';
  for (const args of [
    ['store', 'migrate', '--database-url', bad],
    ['export', '--sink', 'postgres', '--database-url', bad],
    ['reprocess', '--sink', 'postgres', '--database-url', bad, '--dry-run'],
  ]) {
    const err = await cliOutput(args).then(
      () => '',
      (e: Error) => e.message,
    );
    // (reprocess prints its totals, a reprocess.failed line, on stdout first)
    assert.match(err, /exited 1: .*error: PostgreSQL at 127\.0\.0\.1:1\/nodb: .*ECONNREFUSED.*check --database-url/s, args.join(' '));
    assert.not.match(err, /REDIS_URL|Redis/, 'Redis is not blamed');
    assert.not.match(err.slice(err.indexOf('exited 1:')), /secret/, 'no password in the message');
  }
});

test('export from postgres: --category and --since select exactly the matching rows, across keyset pages', async () => {
  const { url, db } = await freshDatabase();
  const pipeline = randomPipeline();
  const T0 = Date.parse('2024-05-01T00:00:00Z');
  for (let i = 0; i < 40; i++) {
    await db.query(`INSERT INTO products (key, category, brand, doc, entry_id, trace_id, produced_at, stored_at) VALUES ($1, $2, $3, $4, $5, 't', $6, $6)`, [
      `k${String(i).padStart(2, '0')}`,
      i % 2 ? 'tools' : 'toys',
      `B${i}`,
      { key: `k${i}`, n: i },
      `${i}-0`,
      new Date(T0 + i * 60_000),
    ]);
  }
  const file = writeConfig(pipeline, FAST, { stages: pgStages({ postgresUrl: url }) });
  const out = await cliOutput(['--config', file, 'export', '--category', 'tools', '--since', new Date(T0 + 20 * 60_000).toISOString(), '--page', '3'], {});
  const lines = out
    .split('\n')
    .filter((l) => l.startsWith('{"key"'))
    .map((l) => JSON.parse(l) as { key: string; category: string; brand: string; storedAt: string });
  assert.equal(
    lines.map((l) => l.key),
    ['k21', 'k23', 'k25', 'k27', 'k29', 'k31', 'k33', 'k35', 'k37', 'k39'],
  );
  assert.ok(lines.every((l) => l.category === 'tools'));
  assert.is(lines[0]!.storedAt, new Date(T0 + 21 * 60_000).toISOString());
  const all = await cliOutput(['--config', file, 'export', '--page', '7']);
  assert.is(all.split('\n').filter((l) => l.startsWith('{"key"')).length, 40);
});

test.after(async () => {
  for (const p of pools) await p.end().catch((err: unknown) => console.error('pool end', err));
  redis.disconnect();
  await pgServer.close();
  await redisServer.close();
});
test.run();
