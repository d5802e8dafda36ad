/**
 * `pipeline store migrate` and the checks that send people to it: a schema whose tables were
 * dropped after the migrations were recorded is repaired by migrate (it had trusted
 * schema_migrations and applied nothing), and the sink's start refuses it naming the fix; on a
 * live database it waits for its table locks in bounded attempts (the store's writes go on); a
 * wrong `--database-url` or `--schema` is named as that option.
 */
import { spawn } from 'node:child_process';
import pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError } from '../../lib/core/errors.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { createPostgresSink, POSTGRES_DEFAULTS } from '../../stages/sinks/postgres.js';
import type { PipelineConfig } from '../../lib/config/types.js';
import { checkSinkSchemas } from '../../stages/sinks/start-check.js';
import { BIN, exited, writeConfig } from '../helpers/pipeline.js';
import { upUntilExit } from '../helpers/processes.js';
import { findPostgresBin, PostgresServer } from '../helpers/postgres.js';
import { randomPipeline, startRedis, waitFor } from '../helpers/redis.js';
import { migrate } from '../../stages/sinks/migrations/migrate.js';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { resolveConfig } from '../../lib/config/load.js';

const pgBin = findPostgresBin();
if (!pgBin) {
  console.log('SKIP store-migrate.test.ts: PostgreSQL server binaries not found (apt-get install -y postgresql, or set PG_BIN)');
  process.exit(0);
}
const pgServer = await new PostgresServer({ bin: pgBin }).start();

/** `pipeline <args>` → exit code and output (no Redis needed: REDIS_URL points nowhere). */
async function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, REDIS_URL: 'redis://127.0.0.1:1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return { code: await exited(child), out };
}

/** `pipeline store migrate` on `url` → its store.migrated line. */
async function migrateCli(url: string): Promise<{ applied: string[]; reapplied: string[] }> {
  const r = await run(['store', 'migrate', '--database-url', url]);
  assert.is(r.code, 0, r.out);
  return JSON.parse(r.out.trim().split('\n').pop()!) as { applied: string[]; reapplied: string[] };
}

async function withDb<T>(fn: (url: string, db: pg.Pool) => Promise<T>): Promise<T> {
  const url = await pgServer.createDatabase(randomPipeline('db'));
  const db = new pg.Pool({ connectionString: url, max: 1 });
  try {
    return await fn(url, db);
  } finally {
    await db.end();
  }
}

const hasTable = async (db: pg.Pool) => (await db.query<{ t: string | null }>("SELECT to_regclass('public.products')::text AS t")).rows[0]!.t !== null;

test('products dropped after migrating: the sink refuses to start naming `store migrate`, which applies the migrations again (it had printed applied: [])', async () => {
  await withDb(async (url, db) => {
    assert.equal((await migrateCli(url)).applied, ['001', '002', '003', '004']);
    assert.equal((await migrateCli(url)).applied, [], 'nothing to do twice');
    await db.query('DROP TABLE products');
    const sink = createPostgresSink({ ...POSTGRES_DEFAULTS, url }, silentLogger);
    try {
      const err = await sink.init().then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof ConfigError, String(err));
      assert.match((err as Error).message, /products missing .*run `pipeline store migrate`/);
      const r = await migrateCli(url);
      assert.equal(
        [r.applied, r.reapplied],
        [
          ['001', '002', '003', '004'],
          ['001', '002', '003', '004'],
        ],
      );
      assert.ok(await hasTable(db), 'products is back');
      await sink.init();
      await sink.write([{ key: 'k1', entryId: '1-0', traceId: 't', category: 'c', fields: {}, doc: { key: 'k1' }, storedAt: Date.now(), version: '1-0' }]);
      assert.equal((await db.query('SELECT key, version FROM products')).rows, [{ key: 'k1', version: '00000000000000000001-00000000000000000000' }]);
    } finally {
      await sink.close();
    }
  });
});

test('a column of a later migration dropped: migrate applies that migration again, the data stays', async () => {
  await withDb(async (url, db) => {
    await migrateCli(url);
    await db.query(`INSERT INTO products (key, category, doc, entry_id, trace_id) VALUES ('k', 'c', '{}', '1-0', 't')`);
    await db.query('ALTER TABLE products DROP COLUMN version');
    const r = await migrateCli(url);
    assert.equal([r.applied, r.reapplied], [['002'], ['002']]);
    assert.equal((await db.query('SELECT key, version FROM products')).rows, [{ key: 'k', version: null }]);
  });
});

test('export and reprocess from postgres without a URL say it may be passed as --database-url, as store migrate does', async () => {
  for (const args of [
    ['store', 'migrate'],
    ['export', '--sink', 'postgres'],
    ['reprocess', '--sink', 'postgres', '--dry-run'],
  ]) {
    const r = await run(args, { DATABASE_URL: '' });
    assert.is(r.code, 1, r.out);
    assert.match(r.out, /needs a postgres:\/\/ URL in settings\.postgresUrl or env DATABASE_URL \(or pass --database-url\)/, args.join(' '));
  }
});

test('a --database-url that is no postgres:// URL, or a bad --schema, is named as that option (both had been blamed on settings.postgresUrl, "or pass --database-url")', async () => {
  for (const command of [
    ['store', 'migrate'],
    ['export', '--sink', 'postgres'],
    ['reprocess', '--sink', 'postgres', '--dry-run'],
  ]) {
    const url = await run([...command, '--database-url', 'mysql://app:s3cret@db/x']);
    assert.is(url.code, 1, url.out);
    assert.match(
      url.out,
      /^error: config error at --database-url: expected a postgres:\/\/ \(or postgresql:\/\/\) URL, got one starting mysql:\/\/$/m,
      command.join(' '),
    );
    assert.not.match(url.out, /s3cret|settings\.postgresUrl/, 'the password is not echoed, the config is not blamed');
    const schema = await run([...command, '--database-url', 'postgres://127.0.0.1:1/x', '--schema', 'a-b']);
    assert.is(schema.code, 1, schema.out);
    assert.match(schema.out, /^error: config error at --schema: invalid schema name "a-b" \(letters, digits, _\)$/m, command.join(' '));
  }
});

/** The rules-only pipeline with its store writing to the postgres database at `url`. */
function pgPipeline(url: string): { pipeline: string; stages: PipelineConfig['stages'] } {
  const raw = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../config/rules-only.json'), 'utf8')) as PipelineConfig;
  const stages = raw.stages.map((s) => (s.kind === 'store' ? { ...s, settings: { sink: 'postgres', postgresUrl: url } } : s));
  return { pipeline: randomPipeline('up'), stages };
}

test('pipeline up on an unmigrated postgres schema: exit 1 naming `store migrate`, no store worker restarted in a loop', async () => {
  const redisServer = await startRedis();
  try {
    await withDb(async (url) => {
      const { pipeline, stages } = pgPipeline(url);
      const { code, out } = await upUntilExit(writeConfig(pipeline, {}, { stages }), redisServer.url, 30_000);
      assert.is(code, 1, out);
      assert.match(out, /stages\.store: postgres schema public: migration 004 is not applied .*run `pipeline store migrate`/);
      assert.not.match(out, /worker\.(started|exit)|supervisor\.(spawn|restart)/, 'no worker started');
    });
  } finally {
    await redisServer.close();
  }
});

test('the start check passes a migrated schema and leaves a database it cannot reach to the workers', async () => {
  await withDb(async (url) => {
    const config = (u: string) =>
      resolveConfig({ ...pgPipeline(u), input: 'in', routes: {} } as unknown as PipelineConfig, 'test', { env: { REDIS_URL: 'redis://127.0.0.1:1' } });
    const refused = await checkSinkSchemas(config(url).stages).then(
      () => '',
      (e: Error) => e.message,
    );
    assert.match(refused, /migration 004 is not applied/);
    await migrateCli(url);
    await checkSinkSchemas(config(url).stages);
    await checkSinkSchemas(config('postgres://u@127.0.0.1:1/nodb').stages);
  });
});

test("store migrate as the store workers' role (the config's postgresUrl): nothing to apply exits 0 (it had failed creating the schema), a migration to apply names the owner as who runs it", async () => {
  await withDb(async (url, db) => {
    await migrateCli(url);
    const role = randomPipeline('store').replace(/-/g, '_');
    await db.query(`CREATE ROLE ${role} LOGIN`);
    await db.query(
      `GRANT USAGE ON SCHEMA public TO ${role}; GRANT SELECT ON public.schema_migrations TO ${role}; GRANT SELECT, INSERT, UPDATE ON public.products TO ${role}`,
    );
    const asStore = url.replace('postgres://postgres@', `postgres://${role}@`);
    assert.equal((await migrateCli(asStore)).applied, [], 'up to date: nothing to do, nothing refused');
    await db.query('ALTER TABLE products DROP COLUMN applied_entries');
    const r = await run(['store', 'migrate', '--database-url', asStore]);
    assert.is(r.code, 1, r.out);
    assert.match(
      r.out,
      new RegExp(
        `database role "${role}" may not apply migration 003_applied_entries \\(must be owner of table products\\): run \`pipeline store migrate\` as the tables' owner`,
      ),
    );
    assert.equal((await migrateCli(url)).reapplied, ['003'], 'the owner applies it');
  });
});

/*
 * On a live database (an upgrade: migration 003 alters `products` while the store workers write):
 * a session holding the table (a long export, an open psql transaction) kept the ALTER TABLE
 * waiting, and every store write queued behind it, until the statement timeout (30 s), when the
 * migration failed with "canceling statement due to statement timeout". Each attempt now waits at
 * most --lock-timeout, the writes go through between attempts, and after --lock-wait it fails
 * naming the session; a session that ends meanwhile lets it apply.
 */

/** `pipeline store migrate` with short lock timers → exit code and output (no Redis needed). */
function migrateWaiting(url: string, lockWaitMs: number): Promise<{ code: number | null; out: string }> {
  return run(['store', 'migrate', '--database-url', url, '--lock-timeout', '300', '--lock-wait', String(lockWaitMs)]);
}

/** A migrated database whose migration 003 is to apply again (its column dropped), one row in products, and a session holding products (ACCESS SHARE, in a transaction). */
async function heldDatabase(): Promise<{ url: string; db: pg.Pool; holder: pg.Client }> {
  const url = await pgServer.createDatabase(randomPipeline('db'));
  const db = new pg.Pool({ connectionString: url, max: 3 });
  db.on('error', () => undefined); // an idle connection's error (the server stopping at the end)
  await migrate(db);
  await db.query(`INSERT INTO products (key, category, doc, entry_id, trace_id) VALUES ('k', 'c', '{}', '1-0', 't')`);
  await db.query('ALTER TABLE products DROP COLUMN applied_entries');
  const holder = new pg.Client({ connectionString: url, application_name: 'long-export' });
  holder.on('error', () => undefined);
  await holder.connect();
  await holder.query('BEGIN');
  await holder.query('SELECT count(*) FROM products');
  return { url, db, holder };
}

/** A migration of this database is waiting for a lock now. */
const migrationWaiting = async (db: pg.Pool, app: string) =>
  ((await db.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`, [app])).rowCount ?? 0) > 0;

test("a store write while migrate waits for a session holding products goes through (it had waited for the migration's statement timeout)", async () => {
  const { url, db, holder } = await heldDatabase();
  const pool = new pg.Pool({ connectionString: url, max: 1, statement_timeout: 8_000, application_name: 'migrate-in-test' });
  pool.on('error', () => undefined);
  const writer = new pg.Client({ connectionString: url, statement_timeout: 3_000 });
  writer.on('error', () => undefined);
  await writer.connect();
  try {
    const migrating = migrate(pool, { lockTimeoutMs: 300, lockWaitMs: 6_000 }).then(
      () => 'applied',
      (e: Error) => e.message,
    );
    await waitFor('the migration waiting for its lock', () => migrationWaiting(db, 'migrate-in-test'), 10_000);
    const started = performance.now();
    await writer.query(`UPDATE products SET copies = copies + 1 WHERE key = 'k'`); // the store's upsert takes the same lock
    assert.ok(performance.now() - started < 3_000, 'the write did not wait for the migration');
    await holder.query('COMMIT');
    assert.is(await migrating, 'applied', 'applied once the session ended');
    assert.equal((await db.query('SELECT copies FROM products')).rows, [{ copies: 2 }]);
  } finally {
    await writer.end();
    await holder.end().catch(() => {});
    await pool.end();
    await db.end();
  }
});

test('a session holding products past --lock-wait: migrate exits 1 naming it, nothing changed; run again once it ended, it applies', async () => {
  const { url, db, holder } = await heldDatabase();
  try {
    const r = await migrateWaiting(url, 1_500);
    assert.is(r.code, 1, r.out);
    assert.match(r.out, /migration 003_applied_entries could not lock its table: \d+ attempt\(s\) of 300 ms each over 1500 ms \(--lock-timeout, --lock-wait\)/);
    assert.match(r.out, /held by pid \d+ \(user \w+, application "long-export", idle in transaction for \d+ s: SELECT count\(\*\) FROM products\)/);
    assert.match(r.out, /run `pipeline store migrate` again/);
    const column = await db.query(`SELECT 1 FROM information_schema.columns WHERE table_name = 'products' AND column_name = 'applied_entries'`);
    assert.is(column.rowCount, 0, 'nothing applied');
    // Ends while a run waits: that run applies it.
    const again = migrateWaiting(url, 30_000);
    await waitFor('the migration waiting for its lock', () => migrationWaiting(db, 'pipeline:migrate'), 10_000);
    await holder.query('COMMIT');
    const ok = await again;
    assert.is(ok.code, 0, ok.out);
    assert.equal((JSON.parse(ok.out.trim().split('\n').pop()!) as { reapplied: string[] }).reapplied, ['003']);
  } finally {
    await holder.end().catch(() => {});
    await db.end();
  }
});

test.after(async () => {
  await pgServer.close();
});

test.run();
