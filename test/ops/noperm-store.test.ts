/**
 * A store user whose ACL predates this release (upgraded without `pipeline acl --apply`: no
 * `{p}:reprocess:*`, which the upsert declares and the Postgres sink's marker drop touches) is
 * the deployment's fault, not the records': nothing is dead-lettered for it. The Redis sink's
 * batch waits in place (the upsert is refused whole, nothing written) with one `redis.noperm` line
 * naming the user, the key and `pipeline acl --apply`; the Postgres sink's rows, committed before
 * the marker drop, are stored and not dead-lettered as well. Before the fix NOPERM was poison:
 * every record was retried maxDeliveries times and dead-lettered (with Postgres: committed too).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig, stageRedisUrlEnv } from '../../lib/config/load.js';
import type { PipelineConfig, ResolvedConfig, ResolvedStage } from '../../lib/config/types.js';
import { aclUsers, applyAcl, type AclUser, type KeyGrant } from '../../lib/ops/acl.js';
import { createLogger } from '../../lib/observe/logger.js';
import { produce } from '../../lib/producer/producer.js';
import { Keys } from '../../lib/redis/keys.js';
import { readStatus } from '../../lib/stream/status-value.js';
import { Worker } from '../../lib/worker/worker.js';
import { stageDataAccess } from '../../stages/access.js';
import { STAGES } from '../../stages/index.js';
import { migrate } from '../../stages/sinks/migrations/migrate.js';
import { FAST } from '../helpers/pipeline.js';
import { findPostgresBin, PostgresServer } from '../helpers/postgres.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';

const server = await startRedis();
const admin = client(server.url);
const pgBin = findPostgresBin();
const pgServer = pgBin ? await new PostgresServer({ bin: pgBin }).start() : undefined;
const RAW = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../config/rules-only.json'), 'utf8')) as PipelineConfig;
const N = 12;

type Line = Record<string, unknown>;

/** The data grants of the release before the reprocess markers: the store had no `{p}:reprocess:*`. */
const previousRelease = (stage: ResolvedStage, keys: Keys): KeyGrant[] => stageDataAccess(stage, keys).filter((g) => !g.keys.includes(keys.reprocess('*')));

function config(pipeline: string, store: Record<string, unknown>, env: Record<string, string> = {}): ResolvedConfig {
  const stages = RAW.stages.map((s) => (s.kind === 'store' ? { ...s, settings: store } : s));
  return resolveConfig({ ...RAW, pipeline, stages, defaults: { ...RAW.defaults, ...FAST } }, 'test', { env: { REDIS_URL: server.url, ...env } });
}

/** Every stage as its own ACL user, with `dataAccess` as the users' data grants; passwords fixed so a re-apply keeps them. */
async function applyUsers(c: ResolvedConfig, dataAccess: (s: ResolvedStage, k: Keys) => KeyGrant[]): Promise<AclUser[]> {
  const users = aclUsers(c, { dataAccess, password: (u) => `pw-${c.pipeline}-${u.name}` });
  await applyAcl(admin, users);
  return users;
}

/** Run every stage of `c` in this process, each as its user; log lines collected. */
function run(c: ResolvedConfig, lines: Line[]): Worker[] {
  const workers = c.stages.map(
    (s) => new Worker({ config: c, stage: s.name, stages: STAGES, logger: createLogger({ stage: s.name }, 'info', (l) => lines.push(JSON.parse(l) as Line)) }),
  );
  for (const w of workers) w.run().catch((err) => console.error('worker failed', err));
  return workers;
}

async function produceRecords(c: ResolvedConfig): Promise<void> {
  const text = Array.from({ length: N }, (_, i) => JSON.stringify({ id: `p${i}`, title: `Product ${i}`, ...(i % 2 ? { mpn: `MX-${i}` } : {}) })).join('\n');
  await produce(admin, Readable.from([text]), { stream: new Keys(c.pipeline).stream(c.input), source: 'test', maxRecordBytes: 65536 });
}

/** Store batches waited in place for an outage (the failure policy's transient class). */
const storeWaits = (lines: Line[]) => lines.filter((l) => l.stage === 'store' && l.event === 'stage.transient_retry').length;

/** The one clear line: user, key, what to run. */
function assertClearLine(lines: Line[], c: ResolvedConfig) {
  const noperm = lines.filter((l) => l.event === 'redis.noperm' && l.stage === 'store');
  assert.ok(noperm.length >= 1, `no redis.noperm line; store lines: ${JSON.stringify(lines.filter((l) => l.stage === 'store').slice(0, 3))}`);
  assert.ok(noperm.length <= 2, `redis.noperm logged ${noperm.length} times: once per refusal, not per retry`);
  const l = noperm[0]!;
  assert.is(l.user, `${c.pipeline}-store`);
  assert.match(String(l.keys), `{${c.pipeline}}:reprocess:`);
  assert.match(String(l.command), /FCALL|HMGET|DEL/);
  assert.match(String(l.fix), 'pipeline acl --apply');
}

test('redis sink, store user of the previous release: the batch waits in place (nothing dead-lettered), one clear line; after `acl --apply` every record is stored once', async () => {
  const pipeline = randomPipeline('nps');
  const base = config(pipeline, { sink: 'redis' });
  const users = await applyUsers(base, previousRelease);
  const c = config(pipeline, { sink: 'redis' }, Object.fromEntries(users.filter((u) => u.stage).map((u) => [stageRedisUrlEnv(u.stage!), u.url])));
  const keys = new Keys(pipeline);
  const lines: Line[] = [];
  const workers = run(c, lines);
  try {
    await produceRecords(c);
    // Under the old policy every record was dead-lettered after maxDeliveries (5) tries: wait for
    // that, or for the batch to have waited in place well past that many times.
    const maxDeliveries = c.stages.find((s) => s.name === 'store')!.maxDeliveries;
    await waitFor('the store refused many times', async () => storeWaits(lines) >= 3 * maxDeliveries || (await admin.xlen(keys.dlq)) === N, 30_000);
    assert.is(await admin.xlen(keys.dlq), 0, 'a record was dead-lettered for a missing permission');
    assert.is(await admin.scard(keys.products), 0, 'the refused upsert wrote nothing');
    assertClearLine(lines, c);
    assert.is(lines.filter((l) => l.event === 'message.dead_letter').length, 0);
    // The fix: the current rules (same passwords), as `pipeline acl --apply` sets them.
    await applyUsers(base, stageDataAccess);
    await waitFor('every record stored', async () => (await admin.scard(keys.products)) === N, 30_000);
    for (let i = 0; i < N; i++) assert.is(await admin.hget(keys.product(`p${i}`), 'copies'), '1', `p${i} stored once`);
    assert.is(await admin.xlen(keys.dlq), 0);
    await waitFor('the wait said it is over', () => lines.some((l) => l.event === 'redis.noperm_resolved' && l.stage === 'store'), 10_000);
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
});

test('postgres sink, store user of the previous release: the rows are committed and NOT dead-lettered (the marker drop after the commit fails), statuses say stored', async () => {
  if (!pgServer)
    return console.log('SKIP noperm-store.test.ts (postgres): PostgreSQL server binaries not found (apt-get install -y postgresql, or set PG_BIN)');
  const pipeline = randomPipeline('npp');
  const url = await pgServer.createDatabase(pipeline);
  const db = new pg.Pool({ connectionString: url, max: 1 });
  try {
    await migrate(db);
    const store = { sink: 'postgres', postgresUrl: url };
    const base = config(pipeline, store);
    const users = await applyUsers(base, previousRelease);
    const c = config(pipeline, store, Object.fromEntries(users.filter((u) => u.stage).map((u) => [stageRedisUrlEnv(u.stage!), u.url])));
    const keys = new Keys(pipeline);
    const lines: Line[] = [];
    const workers = run(c, lines);
    try {
      await produceRecords(c);
      const rows = async () => Number((await db.query('SELECT count(*) AS n FROM products')).rows[0].n);
      await waitFor(
        'every row committed and its entry acked (or dead-lettered)',
        async () => {
          const groups = (await admin.xinfo('GROUPS', keys.stream('store')).catch(() => [])) as unknown[][];
          const g = groups.map((r) => Object.fromEntries(Array.from({ length: r.length / 2 }, (_, i) => [r[2 * i], r[2 * i + 1]])));
          return (await rows()) === N && Number(g[0]?.lag) === 0 && Number(g[0]?.pending) === 0;
        },
        30_000,
      );
      assert.is(await admin.xlen(keys.dlq), 0, 'a product committed to Postgres was also dead-lettered');
      for (let i = 0; i < N; i++) assert.is((await readStatus(admin, keys.status(`p${i}`))).s, 'stored', `p${i} status`);
      assertClearLine(lines, c);
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
    }
  } finally {
    await db.end();
  }
});

test.after(async () => {
  admin.disconnect();
  await server.close();
  await pgServer?.close();
});
test.run();
