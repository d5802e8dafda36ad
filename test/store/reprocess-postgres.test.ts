/**
 * `pipeline reprocess` reading the postgres sink (as `pipeline export --sink postgres` does): the
 * rules-only pipeline stores into a real PostgreSQL; `--from-stage validate` puts back the products
 * whose route went through validate, once while in flight, and they are stored again with a newer
 * version (the zero-padded `version` column read back as "ms-seq"). A Postgres restart in the
 * middle of the scan is waited out within `--retry-for`. Skips without PostgreSQL.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfigFile } from '../../lib/config/load.js';
import type { PipelineConfig } from '../../lib/config/types.js';
import { isIdle, pipelineStatus } from '../../lib/ops/inspect.js';
import { reprocess } from '../../lib/ops/reprocess.js';
import { compareStreamIds, parseStreamId } from '../../lib/stream/stream-id.js';
import { produce } from '../../lib/producer/producer.js';
import { Keys } from '../../lib/redis/keys.js';
import { STAGES } from '../../stages/index.js';
import { storedProducts } from '../../scripts/commands/export.js';
import { cli, exited, startWorkers, stopAll, writeConfig } from '../helpers/pipeline.js';
import { findPostgresBin, PostgresServer } from '../helpers/postgres.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';

const pgBin = findPostgresBin();
if (!pgBin) {
  console.log('SKIP reprocess-postgres.test.ts: PostgreSQL server binaries not found (apt-get install -y postgresql, or set PG_BIN)');
  process.exit(0);
}

const redisServer = await startRedis();
const redis = client(redisServer.url);
const pgServer = await new PostgresServer({ bin: pgBin }).start();
const RAW = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../config/rules-only.json'), 'utf8')) as PipelineConfig;

async function run(args: string[]): Promise<{ code: number | null; out: string; summary: Record<string, unknown> }> {
  const child = cli(args, redisServer.url);
  const code = await exited(child);
  const line = child
    .output()
    .split('\n')
    .find((l) => l.startsWith('{"event":"reprocess.done"'));
  return { code, out: child.output(), summary: line ? (JSON.parse(line) as Record<string, unknown>) : {} };
}

test('reprocess --from-stage validate from the postgres sink: stored again once, with a newer version; the rest untouched', async () => {
  const url = await pgServer.createDatabase(randomPipeline('db'));
  const migrated = await run(['store', 'migrate', '--database-url', url]);
  assert.is(migrated.code, 0, migrated.out);
  const pipeline = randomPipeline('rpg');
  const stages = RAW.stages.map((s) => (s.kind === 'store' ? { ...s, settings: { sink: 'postgres', postgresUrl: url } } : s));
  const file = writeConfig(pipeline, undefined, { stages });
  const config = loadConfigFile(file, { env: { REDIS_URL: redisServer.url }, knownKinds: Object.keys(STAGES) });
  const keys = new Keys(pipeline);
  const db = new pg.Pool({ connectionString: url, max: 2 });
  const rows = async () =>
    new Map(
      (await db.query<{ key: string; copies: number; stored_at: Date; version: string; entry_id: string }>('SELECT * FROM products')).rows.map((r) => [
        r.key,
        r,
      ]),
    );
  const records = Array.from({ length: 20 }, (_, i) => ({ id: `q${i}`, title: `Product ${i}`, ...(i % 4 === 0 ? { mpn: `MX-${i}` } : {}) }));
  let workers = startWorkers(config);
  try {
    await produce(redis, Readable.from(records.map((r) => JSON.stringify(r) + '\n')), { stream: keys.stream('in'), source: 'test', maxRecordBytes: 65536 });
    await waitFor('20 rows', async () => (await rows()).size === 20 && isIdle(await pipelineStatus(redis, config)));
  } finally {
    await stopAll(workers);
  }
  const before = await rows();
  const first = await run(['--config', file, 'reprocess', '--from-stage', 'validate']);
  assert.is(first.code, 0, first.out);
  assert.equal([first.summary.sink, first.summary.scanned, first.summary.reprocessed], ['postgres', 20, 5]);
  const second = await run(['--config', file, 'reprocess', '--from-stage', 'validate']);
  assert.equal([second.summary.reprocessed, (second.summary.skipped as Record<string, number>).inFlight], [0, 5], 'in flight: not put back twice');
  const origin = (await redis.hget(keys.reprocess('q0'), 'origin'))!;
  assert.ok(
    compareStreamIds(
      parseStreamId(origin)!,
      parseStreamId(
        before
          .get('q0')!
          .version.replace(/^0+/, '')
          .replace(/-0+(?=\d)/, '-'),
      )!,
    ) > 0,
  );
  workers = startWorkers(config);
  try {
    await waitFor('stored again', async () => isIdle(await pipelineStatus(redis, config)) && (await rows()).get('q0')!.version > before.get('q0')!.version);
  } finally {
    await stopAll(workers);
  }
  const after = await rows();
  for (const r of records) {
    const [old, now] = [before.get(r.id)!, after.get(r.id)!];
    if (r.mpn === undefined) {
      assert.equal(now, old, `${r.id}: untouched`);
      continue;
    }
    assert.is(now.copies, 1, `${r.id}: a reprocessed version is not a copy`);
    assert.ok(now.stored_at > old.stored_at, r.id);
    assert.ok(now.version > old.version, `${r.id}: a newer version (zero-padded, sorts as text)`);
  }
  await db.end();
});

test('a Postgres restart in the middle of the scan is waited out (--retry-for): every product put back once (the run had failed at the restart)', async () => {
  // A server of its own, stopped and started again on the same port and data mid-scan.
  const restarting = await new PostgresServer({ bin: pgBin }).start();
  try {
    const url = await restarting.createDatabase(randomPipeline('db'));
    const migrated = await run(['store', 'migrate', '--database-url', url]);
    assert.is(migrated.code, 0, migrated.out);
    const pipeline = randomPipeline('rpr');
    const stages = RAW.stages.map((s) => (s.kind === 'store' ? { ...s, settings: { sink: 'postgres', postgresUrl: url } } : s));
    const file = writeConfig(pipeline, undefined, { stages });
    const config = loadConfigFile(file, { env: { REDIS_URL: redisServer.url }, knownKinds: Object.keys(STAGES) });
    const keys = new Keys(pipeline);
    const db = new pg.Pool({ connectionString: url, max: 1 });
    db.on('error', () => undefined); // its idle client, when the server stops
    const records = Array.from({ length: 9 }, (_, i) => ({ id: `r${i}`, title: `Product ${i}` }));
    const workers = startWorkers(config);
    try {
      await produce(redis, Readable.from(records.map((r) => JSON.stringify(r) + '\n')), { stream: keys.stream('in'), source: 'test', maxRecordBytes: 65536 });
      await waitFor(
        '9 rows',
        async () => Number((await db.query('SELECT count(*) AS n FROM products')).rows[0].n) === 9 && isIdle(await pipelineStatus(redis, config)),
      );
    } finally {
      await stopAll(workers);
      await db.end();
    }
    const retried: string[] = [];
    let restarted: Promise<unknown> | undefined;
    // Pages of 2 rows: once the first page is read, the server stops before the next page's query.
    const source = storedProducts(config, {}, 'postgres', {}, 2, redis, {
      retryForMs: 30_000,
      retryBaseMs: 50,
      retryMaxMs: 200,
      onRetry: (err) => {
        retried.push(String((err as Error).message));
        restarted ??= restarting.start();
      },
    });
    async function* stoppingAfterFirstPage() {
      let n = 0;
      for await (const p of source.products) {
        yield p;
        if (++n === 2) await restarting.stop();
      }
    }
    try {
      const summary = await reprocess(redis, config, stoppingAfterFirstPage(), { current: {}, fromStage: 'preprocess', retryForMs: 30_000 });
      assert.ok(retried.length > 0, 'the page after the stop was refused and retried');
      assert.is(summary.scanned, 9, 'every product read once: no page skipped or read twice');
      assert.is(summary.reprocessed, 9);
      assert.is(summary.skipped.inFlight, 0);
      for (const r of records) assert.ok(await redis.exists(keys.reprocess(r.id)), `${r.id} put back`);
    } finally {
      await restarted;
      await source.close();
    }
  } finally {
    await restarting.close();
  }
});

test('export and reprocess refused by a database shutting down say so, not to check the database URL (the URL was right)', async () => {
  const closing = await new PostgresServer({ bin: pgBin }).start();
  try {
    const url = await closing.createDatabase(randomPipeline('db'));
    assert.is((await run(['store', 'migrate', '--database-url', url])).code, 0);
    // A session held open keeps a smart shutdown waiting: new connections are refused meanwhile.
    const held = new pg.Client({ connectionString: url });
    held.on('error', () => undefined);
    await held.connect();
    try {
      closing.beginSmartShutdown();
      await waitFor('new connections refused', async () => {
        const probe = new pg.Client({ connectionString: url });
        probe.on('error', () => undefined);
        const refused = await probe.connect().then(
          () => '',
          (err: Error) => err.message,
        );
        await probe.end().catch(() => undefined);
        return /shutting down/.test(refused);
      });
      for (const args of [
        ['export', '--sink', 'postgres', '--database-url', url],
        ['reprocess', '--sink', 'postgres', '--database-url', url, '--dry-run'],
      ]) {
        const r = await run(args);
        const line = r.out.split('\n').find((l) => l.startsWith('error: PostgreSQL at '));
        assert.is(r.code, 1, r.out);
        assert.ok(line, r.out);
        assert.match(line!, /shutting down/);
        assert.match(line!, /run it again once it accepts connections/, args.join(' '));
        assert.not.match(line!, /check --database-url/, args.join(' '));
      }
    } finally {
      await held.end().catch(() => undefined);
    }
  } finally {
    await closing.close();
  }
});

test.after(async () => {
  redis.disconnect();
  await redisServer.close();
  await pgServer.close();
});
test.run();
