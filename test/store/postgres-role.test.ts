/**
 * The store's database role refused by PostgreSQL (a privilege it lacks: 42501; its login: 28000)
 * is a configuration error, not an outage: `pipeline up`'s start check refuses it (exit 1) naming
 * the role, the table, the privilege and the GRANT (it had passed silently); a store worker says so
 * in one line (it had logged `postgres.unreachable_at_start`, "writes will retry until it is back")
 * and its records wait, none dead-lettered, until the GRANT; then each is stored once. While they
 * wait, `pipeline health` fails, `pipeline top` lists the store's consumer and `pipeline status` has a
 * line for the stage (and `waiting` in its --json), each naming the role, the table and the GRANT (they
 * had shown nothing: only a Redis NOPERM wait reached the liveness record; status had shown nothing
 * until session 28); once granted, none shows it.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import type { PipelineConfig, ResolvedConfig } from '../../lib/config/types.js';
import { consumerHealth } from '../../lib/ops/consumer-health.js';
import { createLogger } from '../../lib/observe/logger.js';
import { produce } from '../../lib/producer/producer.js';
import { Keys } from '../../lib/redis/keys.js';
import { Worker } from '../../lib/worker/worker.js';
import { statusOutput } from '../../scripts/commands/status.js';
import { renderFrame, TopSampler } from '../../scripts/commands/top.js';
import { STAGES } from '../../stages/index.js';
import { migrate } from '../../stages/sinks/migrations/migrate.js';
import { checkSinkSchemas } from '../../stages/sinks/start-check.js';
import { FAST, writeConfig } from '../helpers/pipeline.js';
import { upUntilExit } from '../helpers/processes.js';
import { findPostgresBin, PostgresServer } from '../helpers/postgres.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';

const pgBin = findPostgresBin();
if (!pgBin) {
  console.log('SKIP postgres-role.test.ts: PostgreSQL server binaries not found (apt-get install -y postgresql, or set PG_BIN)');
  process.exit(0);
}
const pgServer = await new PostgresServer({ bin: pgBin }).start();
const redisServer = await startRedis();
const admin = client(redisServer.url);
const RAW = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../config/rules-only.json'), 'utf8')) as PipelineConfig;
const N = 8;
/** How long `pipeline up` gets to refuse before the test calls it running. */
const UP_DEADLINE_MS = 30_000;

type Line = Record<string, unknown>;

/** A migrated database and a login role (cluster-wide, so a random name) granted only USAGE on public and SELECT on products. */
async function limitedRole(): Promise<{ db: pg.Pool; role: string; url: string; superUrl: string }> {
  const name = randomPipeline('role')
    .replace(/[^a-z0-9_]/gi, '_')
    .toLowerCase();
  const superUrl = await pgServer.createDatabase(name);
  const db = new pg.Pool({ connectionString: superUrl, max: 1 });
  await migrate(db);
  await db.query(`CREATE ROLE "${name}" LOGIN`);
  await db.query(`GRANT USAGE ON SCHEMA public TO "${name}"`);
  await db.query(`GRANT SELECT ON products TO "${name}"`);
  return { db, role: name, url: `postgres://${name}@127.0.0.1:${pgServer.port}/${name}`, superUrl };
}

function config(pipeline: string, url: string): ResolvedConfig {
  const stages = RAW.stages.map((s) => (s.kind === 'store' ? { ...s, settings: { sink: 'postgres', postgresUrl: url } } : s));
  return resolveConfig({ ...RAW, pipeline, stages, defaults: { ...RAW.defaults, ...FAST } }, 'test', { env: { REDIS_URL: redisServer.url } });
}

test('pipeline up with a store role lacking SELECT on schema_migrations and INSERT, UPDATE on products: exit 1, one line naming the role, the privileges and the GRANT; no worker started', async () => {
  const { db, role, url } = await limitedRole();
  try {
    const pipeline = randomPipeline('up');
    const stages = RAW.stages.map((s) => (s.kind === 'store' ? { ...s, settings: { sink: 'postgres', postgresUrl: url } } : s));
    const { code, out } = await upUntilExit(writeConfig(pipeline, {}, { stages }), redisServer.url, UP_DEADLINE_MS);
    assert.is(code, 1, out);
    const errors = out.split('\n').filter((l) => l.startsWith('error:'));
    assert.is(errors.length, 1, out);
    assert.match(errors[0]!, `database role "${role}" lacks SELECT on public.schema_migrations; INSERT, UPDATE on public.products`);
    assert.match(errors[0]!, `GRANT SELECT ON "public"."schema_migrations" TO "${role}"; GRANT INSERT, UPDATE ON "public"."products" TO "${role}";`);
    assert.not.match(out, /unreachable|worker\.(started|exit)|supervisor\.(spawn|restart)/, 'no worker started');
  } finally {
    await db.end();
  }
});

test('the start check refuses a login the database refuses (28000: no such role), and passes once the role has its grants', async () => {
  const { db, role, url } = await limitedRole();
  try {
    const c = (u: string) => config(randomPipeline('chk'), u).stages;
    const refused = (u: string) =>
      checkSinkSchemas(c(u)).then(
        () => 'passed',
        (e: Error) => e.message,
      );
    assert.match(await refused(url.replace(`${role}@`, 'nobody_here@')), /database role "nobody_here" was refused \(role "nobody_here" does not exist\)/);
    assert.match(await refused(url), `database role "${role}" lacks`);
    await db.query(`GRANT SELECT ON schema_migrations TO "${role}"; GRANT INSERT, UPDATE ON products TO "${role}"`);
    assert.is(await refused(url), 'passed');
  } finally {
    await db.end();
  }
});

test('a store worker whose role lacks INSERT, UPDATE: one clear line (not "unreachable"), records wait with none dead-lettered, health, top and status name the GRANT, each stored once after it', async () => {
  const { db, role, url } = await limitedRole();
  const pipeline = randomPipeline('wk');
  const c = config(pipeline, url);
  const keys = new Keys(pipeline);
  const lines: Line[] = [];
  const workers = c.stages.map(
    (s) => new Worker({ config: c, stage: s.name, stages: STAGES, logger: createLogger({ stage: s.name }, 'info', (l) => lines.push(JSON.parse(l) as Line)) }),
  );
  for (const w of workers) w.run().catch((err) => console.error('worker failed', err));
  try {
    const text = Array.from({ length: N }, (_, i) => JSON.stringify({ id: `p${i}`, title: `Product ${i}` })).join('\n');
    await produce(admin, Readable.from([text]), { stream: keys.stream(c.input), source: 'test', maxRecordBytes: 65536 });
    const maxDeliveries = c.stages.find((s) => s.name === 'store')!.maxDeliveries;
    const waits = () => lines.filter((l) => l.stage === 'store' && l.event === 'stage.transient_retry').length;
    await waitFor('the store refused well past maxDeliveries', async () => waits() >= 3 * maxDeliveries || (await admin.xlen(keys.dlq)) > 0, 30_000);
    assert.is(await admin.xlen(keys.dlq), 0, 'a record was dead-lettered for a missing privilege');
    const store = lines.filter((l) => l.stage === 'store');
    assert.not.ok(
      store.some((l) => l.event === 'postgres.unreachable_at_start'),
      'a reachable database refusing the role was called unreachable',
    );
    const denied = store.filter((l) => l.event === 'postgres.permission_denied');
    assert.is(denied.length, 1, `once, not per retry: ${JSON.stringify(denied)}`);
    assert.is(denied[0]!.level, 'error');
    assert.is(denied[0]!.role, role);
    assert.match(String(denied[0]!.line), 'INSERT, UPDATE on public.products');
    assert.match(String(denied[0]!.fix), `GRANT INSERT, UPDATE ON "public"."products" TO "${role}";`);
    // The wait is visible where operators look: health fails naming it, top lists it, each with the GRANT.
    const grant = `GRANT INSERT, UPDATE ON "public"."products" TO "${role}";`;
    const health = () => consumerHealth(admin, c, 'store', { host: hostname(), pid: process.pid });
    await waitFor('health names the missing privilege', async () => ((await health()).reason ?? '').includes(grant), 10_000);
    const h = await health();
    assert.not.ok(h.ok);
    assert.match(h.reason!, new RegExp(`^waiting for \\d+ s for a PostgreSQL privilege: database role "${role}" lacks .*INSERT, UPDATE on public\\.products`));
    const top = () => new TopSampler(admin, c, 10).frame();
    const frame = await top();
    assert.ok(
      frame.waiting?.some((w) => w.stage === 'store' && w.reason.includes(grant)),
      JSON.stringify(frame.waiting),
    );
    assert.ok(renderFrame(frame, 1000).includes(grant), renderFrame(frame, 1000));
    // `pipeline status` too (it had shown the growing lag only): a line for the stage with the GRANT, and `waiting` in --json.
    const table = (await statusOutput(admin, c)).text;
    const line = table.split('\n').find((l) => l.startsWith('store waits '));
    assert.ok(line, table);
    assert.match(line!, /^store waits \d+ s for a PostgreSQL privilege \(1 consumer; missing, not an outage: nothing moves until it is granted\): /);
    assert.match(line!, new RegExp(`database role "${role}" lacks .*INSERT, UPDATE on public\\.products`));
    assert.ok(line!.includes(grant), line);
    const json = JSON.parse((await statusOutput(admin, c, true)).text) as { waiting: Record<string, unknown>[]; outages: unknown[] };
    assert.is(json.waiting.length, 1, JSON.stringify(json.waiting));
    assert.is(json.waiting[0]!.stage, 'store');
    assert.is(json.waiting[0]!.cause, 'postgres_noperm');
    assert.is(typeof json.waiting[0]!.since, 'number');
    assert.ok(String(json.waiting[0]!.reason).includes(grant), JSON.stringify(json.waiting[0]));
    assert.equal(json.outages, [], 'a missing privilege is not an outage');
    await db.query(`GRANT SELECT ON schema_migrations TO "${role}"; GRANT INSERT, UPDATE ON products TO "${role}"`);
    await waitFor('every record stored', async () => Number((await db.query('SELECT count(*) AS n FROM products')).rows[0].n) === N, 30_000);
    assert.equal(
      (await db.query<{ copies: number }>('SELECT DISTINCT copies FROM products')).rows.map((r) => Number(r.copies)),
      [1],
      'each stored once',
    );
    assert.is(await admin.xlen(keys.dlq), 0);
    await waitFor('the wait said it is over', () => lines.some((l) => l.event === 'postgres.permission_resolved' && l.stage === 'store'), 10_000);
    await waitFor('health passes again', async () => (await health()).ok, 10_000);
    await waitFor('top lists no wait', async () => ((await top()).waiting ?? []).length === 0, 10_000);
    const after = (await statusOutput(admin, c)).text;
    assert.not.match(after, /waits/, after);
    assert.equal((JSON.parse((await statusOutput(admin, c, true)).text) as { waiting: unknown[] }).waiting, []);
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await db.end();
  }
});

test.after(async () => {
  admin.disconnect();
  await redisServer.close();
  await pgServer.close();
});

test.run();
