/**
 * `pipeline reprocess`'s in-flight markers `{p}:reprocess:<key>` go once the new version is
 * stored (they had stayed for the marker TTL, a day: ~200 B per product put back): within the
 * Redis sink's upsert, and after the commit of the postgres sink. A store of an older version
 * (the one put back, delivered again) leaves the marker, so a second run still skips the product.
 * A version put back that the store drops as older than a newer record stored meanwhile takes
 * the marker with it on both sinks.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import type { PipelineConfig, ResolvedConfig } from '../../lib/config/types.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { noopMetrics } from '../../lib/observe/metrics.js';
import { reprocess } from '../../lib/ops/reprocess.js';
import { Keys } from '../../lib/redis/keys.js';
import { newEnvelope, type Message } from '../../lib/stream/codec.js';
import { migrate } from '../../stages/sinks/migrations/migrate.js';
import { createStore } from '../../stages/store.js';
import { rulesOnlyConfig } from '../helpers/pipeline.js';
import { each, storedRef } from '../helpers/stored-products.js';
import { findPostgresBin, PostgresServer } from '../helpers/postgres.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);
const pgBin = findPostgresBin();
const pgServer = pgBin ? await new PostgresServer({ bin: pgBin }).start() : undefined;

/** A store-stream message of `key` with version `origin`. */
const message = (key: string, id: string, origin: string): Message => ({
  id,
  stream: 'store',
  envelope: { ...newEnvelope({ id: key, title: `item ${key}` }), origin, outputs: { preprocess: { text: key } } },
});

interface StoreSteps {
  /** Deliver `m` to the store stage; every result ok. */
  stored(m: Message): Promise<void>;
  /** The origin of `key`'s reprocess marker (null: none). */
  marker(): Promise<string | null>;
  /** The markers seen, returned by withStore. */
  seen: (string | null)[];
}

/** Run `steps` against the store stage of `config` (closed after); returns the markers they saw. */
async function withStore(config: ResolvedConfig, key: string, steps: (s: StoreSteps) => Promise<void>): Promise<(string | null)[]> {
  const keys = new Keys(config.pipeline);
  const store = createStore({ config, stage: config.stages.find((s) => s.kind === 'store')!, keys, redis, logger: silentLogger, metrics: noopMetrics });
  await store.init?.();
  const seen: (string | null)[] = [];
  try {
    await steps({
      stored: async (m) => assert.ok((await store.process([m])).every((r) => r.ok)),
      marker: () => redis.hget(keys.reprocess(key), 'origin'),
      seen,
    });
  } finally {
    await store.close?.();
  }
  return seen;
}

/** The store stage of `config` stores `key` as 10-0 (entry 1000-0), reprocess puts it back, then the deliveries: the marker after each. */
async function markerAfterStores(config: ResolvedConfig, key: string): Promise<(string | null)[]> {
  return withStore(config, key, async ({ stored, marker, seen }) => {
    await stored(message(key, '1000-0', '10-0'));
    const s = await reprocess(redis, config, each([storedRef(key)]), { current: {}, fromStage: 'validate' });
    assert.is(s.reprocessed, 1);
    seen.push(await marker());
    await stored(message(key, '1000-0', '10-0')); // the version put back, delivered again
    seen.push(await marker());
    await stored(message(key, '2000-0', '10-1')); // the reprocessed version
    seen.push(await marker());
  });
}

/**
 * A run that read the product (10-0) just before a newer record (20-0) was stored puts it back
 * after that store: the version put back (10-1) reaches the store older than the stored one and
 * is dropped. The marker after the put-back and after that drop.
 */
async function markerAfterStaleDrop(config: ResolvedConfig, key: string): Promise<(string | null)[]> {
  return withStore(config, key, async ({ stored, marker, seen }) => {
    await stored(message(key, '1000-0', '10-0'));
    await stored(message(key, '3000-0', '20-0')); // the newer record, stored after the run read 10-0
    const s = await reprocess(redis, config, each([storedRef(key)]), { current: {}, fromStage: 'validate' });
    assert.is(s.reprocessed, 1);
    seen.push(await marker());
    await stored(message(key, '4000-0', '10-1')); // the version put back: older than 20-0, dropped
    seen.push(await marker());
  });
}

test('redis sink: the marker goes in the upsert that stores the reprocessed version, not before', async () => {
  const config = rulesOnlyConfig(server.url, randomPipeline('mk'));
  assert.equal(await markerAfterStores(config, 'k1'), ['10-1', '10-1', null]);
});

/** The rules-only pipeline with its store on a new, migrated database of `pgServer`. */
async function postgresConfig(pg0: PostgresServer): Promise<ResolvedConfig> {
  const url = await pg0.createDatabase(randomPipeline('db'));
  const db = new pg.Pool({ connectionString: url, max: 1 });
  try {
    await migrate(db);
  } finally {
    await db.end();
  }
  const raw = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../config/rules-only.json'), 'utf8')) as PipelineConfig;
  const stages = raw.stages.map((s) => (s.kind === 'store' ? { ...s, settings: { sink: 'postgres', postgresUrl: url } } : s));
  return resolveConfig({ ...raw, pipeline: randomPipeline('mk'), stages }, 'test', { env: { REDIS_URL: server.url } });
}

test('postgres sink: the marker goes after the commit that stores the reprocessed version, not before', async () => {
  if (!pgServer)
    return console.log('SKIP reprocess-marker.test.ts (postgres): PostgreSQL server binaries not found (apt-get install -y postgresql, or set PG_BIN)');
  const config = await postgresConfig(pgServer);
  assert.equal(await markerAfterStores(config, 'k2'), ['10-1', '10-1', null]);
});

test('both sinks: a version put back that the store drops as older than a newer record stored meanwhile takes its marker with it (the redis sink had kept it for the marker TTL, a day)', async () => {
  const config = rulesOnlyConfig(server.url, randomPipeline('mk'));
  assert.equal(await markerAfterStaleDrop(config, 'k3'), ['10-1', null], 'redis sink');
  const stored = await redis.hget(new Keys(config.pipeline).product('k3'), 'version');
  assert.is(stored, '20-0', 'the newer record stays stored');
  if (!pgServer)
    return console.log(
      'SKIP reprocess-marker.test.ts (postgres, stale drop): PostgreSQL server binaries not found (apt-get install -y postgresql, or set PG_BIN)',
    );
  const pgConfig = await postgresConfig(pgServer);
  assert.equal(await markerAfterStaleDrop(pgConfig, 'k4'), ['10-1', null], 'postgres sink');
});

test.after(async () => {
  await pgServer?.close();
});
test.run();
