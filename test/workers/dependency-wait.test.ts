/**
 * A stage waiting out a dependency outage (the store's PostgreSQL stopped under it) says what it
 * waits for where operators look: the consumer's liveness record has `outage` (PostgreSQL, since
 * when, the last error in one line), `pipeline top` a line per waiting consumer, `pipeline status`
 * (table and --json) the short form, and `pipeline health` a note while it still exits 0 (waiting
 * out an outage is progress). All of it goes once Postgres is back and the records are stored.
 * (They had shown nothing but a growing lag.) The HTTP API answers a read of the stopped store 503
 * "the data store is unavailable", the error (its internal address) in the server's log line only.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import type pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildServer } from '../../lib/api/server.js';
import { resolveConfig } from '../../lib/config/load.js';
import type { PipelineConfig, ResolvedConfig } from '../../lib/config/types.js';
import { createLogger } from '../../lib/observe/logger.js';
import { consumerHealth } from '../../lib/ops/consumer-health.js';
import { produce } from '../../lib/producer/producer.js';
import { Keys } from '../../lib/redis/keys.js';
import { renderFrame, TopSampler } from '../../scripts/commands/top.js';
import { productReader } from '../../scripts/commands/serve.js';
import { statusOutput } from '../../scripts/commands/status.js';
import { auth, READ, TOKENS } from '../helpers/console.js';
import { BIN, exited, FAST, startWorkers, stopAll, writeConfig } from '../helpers/pipeline.js';
import { migratedDatabase, postgresBinOrSkip, PostgresServer } from '../helpers/postgres.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';

const pgBin = postgresBinOrSkip('dependency-wait.test.ts');
const redisServer = await startRedis();
const redis = client(redisServer.url);
const pgServer = await new PostgresServer({ bin: pgBin }).start();
const RAW = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../config/rules-only.json'), 'utf8')) as PipelineConfig;
/** How long the outage's signs and their clearing get to show (a watchdog beat is 1 s by default). */
const SHOW_MS = 20_000;

const storeStages = (url: string) =>
  RAW.stages.map((s) => (s.kind === 'store' ? { ...s, settings: { sink: 'postgres', postgresUrl: url, postgresConnectTimeoutMs: 1000 } } : s));

function pgConfig(pipeline: string, url: string): ResolvedConfig {
  return resolveConfig({ ...RAW, pipeline, stages: storeStages(url), defaults: { ...RAW.defaults, ...FAST } }, 'test', {
    env: { REDIS_URL: redisServer.url },
  });
}

async function produceRecords(config: ResolvedConfig, from: number, n: number): Promise<void> {
  const text = Array.from({ length: n }, (_, i) => JSON.stringify({ id: `p${from + i}`, title: `Product ${from + i}` })).join('\n');
  await produce(redis, Readable.from([text]), { stream: new Keys(config.pipeline).stream(config.input), source: 'test', maxRecordBytes: 65536 });
}

const stored = async (db: pg.Pool) => Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM products')).rows[0]!.n);

/** `pipeline health --stage store --pid <this process>` (the workers run here): exit code and its JSON line. */
async function healthCli(configFile: string): Promise<{ code: number | null; line: Record<string, unknown>; out: string }> {
  const child = spawn(process.execPath, [BIN, '--config', configFile, 'health', '--stage', 'store', '--pid', String(process.pid)], {
    env: { ...process.env, REDIS_URL: redisServer.url },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await exited(child);
  const json = out.split('\n').find((l) => l.startsWith('{"'));
  return { code, line: json ? (JSON.parse(json) as Record<string, unknown>) : {}, out };
}

test('postgres stopped under a store holding records: top, status and health say the store waits for PostgreSQL (health still passes); gone once the records are stored', async () => {
  const pipeline = randomPipeline('dw');
  const { url, pool: db } = await migratedDatabase(pgServer, pipeline);
  const config = pgConfig(pipeline, url);
  const configFile = writeConfig(pipeline, FAST, { stages: storeStages(url) });
  const workers = startWorkers(config);
  const health = () => consumerHealth(redis, config, 'store', { host: hostname(), pid: process.pid });
  const top = async () => {
    const sampler = new TopSampler(redis, config, 10);
    return sampler.frame();
  };
  let down = false;
  try {
    await produceRecords(config, 0, 5);
    await waitFor('the first 5 stored', async () => (await stored(db)) === 5, SHOW_MS);
    await pgServer.stop();
    down = true;
    await produceRecords(config, 5, 10);
    // The socket error, not the shutdown's 57P01: the store keeps trying to connect to a stopped server.
    await waitFor('health notes the wait for PostgreSQL', async () => /ECONNREFUSED/.test((await health()).note ?? ''), SHOW_MS);
    const h = await health();
    assert.ok(h.ok, `waiting out an outage is progress: ${JSON.stringify(h)}`);
    assert.match(h.note!, /^waiting \d+ s for PostgreSQL: .*connect ECONNREFUSED 127\.0\.0\.1:\d+/);
    const outage = h.progress?.outage as Record<string, unknown>;
    assert.is(outage.dependency, 'PostgreSQL');
    assert.ok(typeof outage.since === 'number' && outage.since <= Date.now(), JSON.stringify(outage));
    assert.not.match(String(outage.error), /\n/);

    const cliHealth = await healthCli(configFile);
    assert.is(cliHealth.code, 0, cliHealth.out);
    assert.is(cliHealth.line.ok, true, cliHealth.out);
    assert.match(String(cliHealth.line.note), /^waiting \d+ s for PostgreSQL: .*ECONNREFUSED/, cliHealth.out);

    const frame = await top();
    const line = `store (${h.consumer}) waits `;
    assert.ok(
      frame.outages?.some((o) => o.stage === 'store' && o.dependency === 'PostgreSQL' && /ECONNREFUSED/.test(o.error ?? '')),
      JSON.stringify(frame.outages),
    );
    const text = renderFrame(frame, 1000);
    assert.match(text, new RegExp(`${line.replace(/[()]/g, '\\$&')}\\d+ s for PostgreSQL: .*ECONNREFUSED`), text);
    assert.equal(frame.waiting, [], 'an outage is not a permission wait');

    const table = (await statusOutput(redis, config)).text;
    assert.match(table, /\nstore waits \d+ s for PostgreSQL \(1 consumer; an outage, waited out in place\)\n/, table);
    const json = JSON.parse((await statusOutput(redis, config, true)).text) as { outages: Record<string, unknown>[] };
    assert.is(json.outages.length, 1, JSON.stringify(json.outages));
    assert.is(json.outages[0]!.stage, 'store');
    assert.is(json.outages[0]!.consumer, h.consumer);
    assert.is(json.outages[0]!.dependency, 'PostgreSQL');
    assert.match(String(json.outages[0]!.error), /ECONNREFUSED/);

    await pgServer.start();
    down = false;
    await waitFor('all 15 stored after postgres is back', async () => (await stored(db).catch(() => -1)) === 15, SHOW_MS);
    await waitFor(
      'health passes without a note',
      async () => {
        const after = await health();
        return after.ok && after.note === undefined && after.progress?.outage === undefined;
      },
      SHOW_MS,
    );
    await waitFor('top lists no outage', async () => ((await top()).outages ?? []).length === 0, SHOW_MS);
    const again = (await statusOutput(redis, config)).text;
    assert.not.match(again, /waits/, again);
    assert.equal((JSON.parse((await statusOutput(redis, config, true)).text) as { outages: unknown[] }).outages, []);
    const cliAfter = await healthCli(configFile);
    assert.is(cliAfter.code, 0, cliAfter.out);
    assert.is(cliAfter.line.note, undefined, cliAfter.out);
  } finally {
    await stopAll(workers);
    if (down) await pgServer.start();
    await db.end();
  }
});

test('GET /v1/products/:id with the store PostgreSQL stopped: 503 "the data store is unavailable", the address in the log line with the request id only', async () => {
  const pipeline = randomPipeline('api');
  const { url, pool: db } = await migratedDatabase(pgServer, pipeline);
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ component: 'api' }, 'info', (l) => lines.push(JSON.parse(l) as Record<string, unknown>));
  const app = await buildServer({ config: pgConfig(pipeline, url), tokens: TOKENS, logger, productReader });
  let down = false;
  try {
    const get = () => app.inject({ method: 'GET', url: '/v1/products/nothing-here', headers: auth(READ) });
    await waitFor('the API connected to Redis', () => app.pipeline.redis.status === 'ready', SHOW_MS);
    const up = await get();
    assert.is(up.statusCode, 404, up.body);
    await pgServer.stop();
    down = true;
    const res = await get();
    assert.is(res.statusCode, 503, res.body);
    assert.ok(Number(res.headers['retry-after']) > 0, JSON.stringify(res.headers));
    assert.equal(res.json(), { error: 'unavailable', message: 'the data store is unavailable' });
    assert.not.match(res.body, /ECONNREFUSED|127\.0\.0\.1|\d{4,5}/);
    const logged = lines.filter((l) => l.event === 'api.store_unavailable');
    assert.is(logged.length, 1, JSON.stringify(lines));
    assert.is(logged[0]!.requestId, res.headers['x-request-id']);
    assert.match(JSON.stringify(logged[0]), /ECONNREFUSED 127\.0\.0\.1:\d+/);
    // The console's list reads (several products in one query) say the same.
    const many = await app.pipeline.readProducts(['a', 'b']).then(
      () => 'read',
      (e: Error) => e.message,
    );
    assert.is(many, 'the data store is unavailable');
  } finally {
    await app.close();
    if (down) await pgServer.start();
    await db.end();
  }
});

test.after(async () => {
  redis.disconnect();
  await redisServer.close();
  await pgServer.close();
});

test.run();
