/**
 * The Postgres sink gets the batches of a store worker's shards at once (the store stage's
 * `concurrentShards`): more writes than `postgresPoolSize` wait for a statement slot, not in the
 * pool's own queue, where `postgresConnectTimeoutMs` would fail them as a Postgres outage while a
 * slow statement holds the one client.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { sleep } from '../../lib/core/backoff.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { createPostgresSink, POSTGRES_DEFAULTS } from '../../stages/sinks/postgres.js';
import type { StoredProduct } from '../../stages/sinks/sink.js';
import { findPostgresBin, migratedDatabase, PostgresServer } from '../helpers/postgres.js';
import { randomPipeline } from '../helpers/redis.js';

const pgBin = findPostgresBin();
if (!pgBin) {
  console.log('SKIP postgres-shards.test.ts: PostgreSQL server binaries not found (apt-get install -y postgresql, or set PG_BIN)');
  process.exit(0);
}
const pgServer = await new PostgresServer({ bin: pgBin }).start();

/** How long a write may wait for a pool client before the pool fails it. */
const CONNECT_TIMEOUT_MS = 300;
/** How long the first write is held (a row lock another session holds): well past CONNECT_TIMEOUT_MS. */
const HELD_MS = 1_500;

const product = (key: string, entryId: string): StoredProduct => ({
  key,
  entryId,
  stream: 'store',
  version: entryId,
  traceId: `t-${key}`,
  category: 'c',
  fields: { category: 'c' },
  doc: { key, producedAt: Date.now() },
  storedAt: Date.now(),
});

test(`writes beyond postgresPoolSize wait for the one client a slow statement holds (${HELD_MS} ms), past postgresConnectTimeoutMs (${CONNECT_TIMEOUT_MS} ms), and all commit`, async () => {
  const { url, pool: db } = await migratedDatabase(pgServer, randomPipeline('db'));
  const sink = createPostgresSink({ ...POSTGRES_DEFAULTS, url, poolSize: 1, connectTimeoutMs: CONNECT_TIMEOUT_MS }, silentLogger);
  const locker = await db.connect();
  try {
    await sink.init();
    await sink.write([product('a', '1-0')]);
    // Another session holds a's row: the sink's next write of a waits for it, holding the pool's one client.
    await locker.query('BEGIN');
    await locker.query(`SELECT 1 FROM products WHERE key = 'a' FOR UPDATE`);
    const held = sink.write([product('a', '2-0')]);
    await sleep(100);
    // Two other shards' batches meanwhile.
    const settled = Promise.allSettled([held, sink.write([product('b', '3-0')]), sink.write([product('c', '4-0')])]);
    await sleep(HELD_MS);
    await locker.query('COMMIT');
    const results = await settled;
    assert.equal(
      results.map((r) => (r.status === 'fulfilled' ? 'ok' : String((r.reason as Error).message))),
      ['ok', 'ok', 'ok'],
      'every write committed',
    );
    const rows = await db.query<{ key: string; entry_id: string }>('SELECT key, entry_id FROM products ORDER BY key');
    assert.equal(
      rows.rows.map((r) => `${r.key}:${r.entry_id}`),
      ['a:2-0', 'b:3-0', 'c:4-0'],
    );
  } finally {
    locker.release();
    await sink.close();
    await db.end();
  }
});

test.after(async () => {
  await pgServer.close();
});
test.run();
