/**
 * The console with the Postgres sink: a product's trace, the recent list and the overview read the
 * store through the server's product reader (as GET /v1/products/:id does), not the Redis hash;
 * the recent list reads a page in one query, not one per product, and GET /v1/products/:id reads
 * a product once.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import type { PipelineConfig } from '../../lib/config/types.js';
import { Keys } from '../../lib/redis/keys.js';
import { encodeEnvelope, newEnvelope } from '../../lib/stream/codec.js';
import { auth, READ, startConsole } from '../helpers/console.js';
import { FAST, startWorkers, stopAll } from '../helpers/pipeline.js';
import { migratedDatabase, postgresBinOrSkip, PostgresServer } from '../helpers/postgres.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';

const pgBin = postgresBinOrSkip('console-postgres.test.ts');

const redisServer = await startRedis();
const redis = client(redisServer.url);
const pgServer = await new PostgresServer({ bin: pgBin }).start();
const pipeline = randomPipeline('cpg');
const keys = new Keys(pipeline);
const { url: dbUrl, pool } = await migratedDatabase(pgServer, pipeline);
const RAW = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../config/rules-only.json'), 'utf8')) as PipelineConfig;
const config = resolveConfig(
  {
    ...RAW,
    pipeline,
    defaults: { ...RAW.defaults, ...FAST },
    stages: RAW.stages.map((s) => (s.kind === 'store' ? { ...s, settings: { sink: 'postgres', postgresUrl: dbUrl, postgresConnectTimeoutMs: 1000 } } : s)),
  },
  'test',
  { env: { REDIS_URL: redisServer.url } },
);
const workers = startWorkers(config);
// The queries the API server's pool (application_name pipeline:api) sends, counted at the client
// as they leave for the server: installed before the server makes its pool.
let apiQueries = 0;
type Counted = pg.Client & { connectionParameters?: { application_name?: string } };
const clientQuery = pg.Client.prototype.query as (...args: unknown[]) => unknown;
pg.Client.prototype.query = function (this: Counted, ...args: unknown[]) {
  if (this.connectionParameters?.application_name === 'pipeline:api') apiQueries++;
  return clientQuery.apply(this, args);
} as typeof pg.Client.prototype.query;
const { app, url } = await startConsole(config, { sampleIntervalMs: 200 });
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const get = async (path: string): Promise<any> => {
  const res = await fetch(`${url}${path}`, { headers: auth(READ) });
  assert.is(res.status, 200, `${path}: ${await res.clone().text()}`);
  return res.json();
};

test('a product stored in Postgres: its trace says stored with the hops, the recent list has it, the overview says "in the postgres sink" (they had said unknown, nothing, stored 0)', async () => {
  for (const id of ['pg1', 'pg2'])
    await redis.xadd(keys.stream('in'), '*', 'k', id, 'e', encodeEnvelope(newEnvelope({ id, title: 'Koss EQ50 3-Band Stereo Equalizer' })));
  await waitFor('both stored in postgres', async () => (await pool.query('SELECT count(*)::int AS n FROM products')).rows[0].n === 2, 20_000);
  assert.is((await get('/v1/products/pg1')).status, 'stored', 'the API says stored');
  assert.is(await redis.scard(keys.products), 0, 'nothing in the Redis store: the console must read Postgres');

  const trace = await get('/console/api/products/pg1');
  assert.is(trace.state, 'stored');
  assert.ok(trace.stored.category, 'the stored category shows');
  assert.ok(trace.hops.length >= 1 && trace.hops[0].stage === 'preprocess', 'hops from the stored document');

  const { products } = await get('/console/api/products');
  assert.equal(products.map((p: { id: string }) => p.id).sort(), ['pg1', 'pg2']);
  assert.ok(products[0].route.includes('store'), 'the route from the stored document');
  assert.ok(products[0].storedAt > Date.now() - 60_000, 'storedAt as ms');

  let stats = await get('/console/api/stats');
  await waitFor('a sample after the products were stored', async () => (stats = await get('/console/api/stats')).at > Date.now() - 1000, 5_000);
  assert.is(stats.stored, null, 'not counted: not 0');
  assert.is(stats.sink, 'postgres');
  const metrics = await (await fetch(`${url}/metrics`, { headers: auth(READ) })).text();
  assert.not.match(metrics, /pipeline_store_products\{[^}]*\} 0/, '/metrics does not say 0 stored either');
});

test('the recent list with the Postgres sink: one query for a page of 5 or of 40 products (it had been one per product), the rows as stored, newest first', async () => {
  const records = readFileSync(resolve(import.meta.dirname, '../../data/sample.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .slice(0, 60)
    .map((l) => JSON.parse(l) as { id: string; title: string });
  for (const r of records) await redis.xadd(keys.stream('in'), '*', 'k', r.id, 'e', encodeEnvelope(newEnvelope(r)));
  const stored = async () => (await pool.query('SELECT count(*)::int AS n FROM products')).rows[0].n;
  await waitFor('62 products stored in postgres', async () => (await stored()) === 62, 60_000);
  // Newest first as the completion stream says (each id once), with each row as Postgres holds it.
  const newestFirst = async () => {
    const ids: string[] = [];
    for (const [, f] of (await redis.xrevrange(keys.extra('done'), '+', '-')) as [string, string[]][]) {
      const m = new Map<string, string>();
      for (let i = 0; i + 1 < f.length; i += 2) m.set(f[i]!, f[i + 1]!);
      if (m.get('s') === 'stored' && !ids.includes(m.get('k')!)) ids.push(m.get('k')!);
    }
    return ids;
  };
  await waitFor('62 completions', async () => (await newestFirst()).length === 62, 10_000);
  const ids = await newestFirst();
  const { rows } = await pool.query('SELECT key, category, brand, mpn, doc, stored_at FROM products');
  const byKey = new Map(rows.map((r) => [r.key as string, r]));
  const expected = (id: string) => {
    const r = byKey.get(id)!;
    const route = r.doc.route as string[];
    const confidences = route.map((s) => r.doc.outputs[s]?.confidence).filter((c) => typeof c === 'number');
    return JSON.parse(
      JSON.stringify({
        id,
        category: r.category,
        brand: r.brand ?? undefined,
        mpn: r.mpn ?? undefined,
        confidence: confidences.at(-1),
        storedAt: r.stored_at.getTime(),
        route,
      }),
    );
  };

  const queries: Record<number, number> = {};
  for (const n of [5, 40]) {
    apiQueries = 0;
    const page = await get(`/console/api/products?limit=${n}`);
    queries[n] = apiQueries;
    assert.equal(
      page.products.map((p: { id: string }) => p.id),
      ids.slice(0, n),
      `limit ${n}: the newest ${n}, newest first`,
    );
    assert.equal(page.products, ids.slice(0, n).map(expected), `limit ${n}: each product's fields as Postgres has them`);
  }
  assert.equal(queries, { 5: 1, 40: 1 }, 'one query per page, whatever its length');

  // A filter reads chunks of max(limit, 50) until the page is full: 62 candidates, 2 queries at most.
  const category = byKey.get(ids[0]!)!.category as string;
  apiQueries = 0;
  const filtered = await get(`/console/api/products?limit=20&category=${encodeURIComponent(category)}`);
  assert.equal(
    filtered.products,
    ids
      .filter((id) => byKey.get(id)!.category === category)
      .slice(0, 20)
      .map(expected),
    'the filtered page',
  );
  assert.ok(apiQueries >= 1 && apiQueries <= 2, `a filtered page of ${filtered.products.length}: ${apiQueries} queries`);
});

test('GET /v1/products/:id of a product stored in Postgres whose status expired: read once, not twice (the fallback and then the answer)', async () => {
  await redis.del(keys.status('pg1'));
  apiQueries = 0;
  const res = await get('/v1/products/pg1');
  assert.is(res.status, 'stored');
  const { rows } = await pool.query('SELECT category FROM products WHERE key = $1', ['pg1']);
  assert.is(res.product.key, 'pg1');
  assert.is(res.product.category, rows[0].category, 'the product as Postgres has it');
  assert.is(apiQueries, 1, 'one query');
  apiQueries = 0;
  assert.is((await get('/v1/products/pg1?wait_ms=50')).product.key, 'pg1', 'with wait_ms too');
  assert.is(apiQueries, 1, 'one query with wait_ms');
});

test.after(async () => {
  pg.Client.prototype.query = clientQuery as typeof pg.Client.prototype.query;
  await app.close();
  await stopAll(workers);
  await pool.end();
  await pgServer.stop();
  redis.disconnect();
  await redisServer.stop();
});
test.run();
