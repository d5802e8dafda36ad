/**
 * The data-loss alarm over HTTP (lib/api/data-loss-routes.ts): workers running, then FLUSHALL (the
 * marker and the groups gone, as a restart without persistence leaves them) makes the workers record
 * the loss; `GET /v1/data-loss` (read) lists it (`[]` before), a read token's `POST
 * /v1/data-loss/ack` is 403 and clears nothing, the admin's clears it and is audited
 * (`data_loss_ack`); both routes are in /openapi.json. Sharded: one record per shard, one ack for all.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { readAudit } from '../../lib/ops/audit.js';
import { readDataLoss } from '../../lib/ops/data-loss.js';
import { Keys } from '../../lib/redis/keys.js';
import { ADMIN, auth, READ, startConsole } from '../helpers/console.js';
import { FAST, rulesOnlyConfig, startWorkers, stopAll } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

/** The workers read their data-loss marker again this often (stage option dataLossCheckMs). */
const CHECK_MS = 100;
/** How long the workers may take to see the loss and record it. */
const SEEN_WITHIN_MS = 20_000;

const { server, redis } = await redisForFile(test);

function configOf(pipeline: string, shards = 1): ResolvedConfig {
  const config = rulesOnlyConfig(server.url, pipeline, { ...FAST, dataLossCheckMs: CHECK_MS });
  return shards === 1 ? config : { ...config, shards };
}

/** Workers running on `config` (their markers written), then FLUSHALL: the record(s) written by the workers that saw it. */
async function loseData(config: ResolvedConfig): Promise<() => Promise<void>> {
  const workers = startWorkers(config);
  const markers = Keys.shards(config.pipeline, config.shards).map((k) => k.epoch);
  try {
    await waitFor('every shard`s data-loss marker written', async () => (await redis.exists(...markers)) === markers.length, 10_000);
    await redis.flushall();
    // Who and what too (written before the time, lib/stream/data-loss.ts).
    const recorded = async () => (await readDataLoss(redis, config)).filter((r) => r.consumer).length === markers.length;
    await waitFor('the workers recorded the loss', recorded, SEEN_WITHIN_MS);
  } catch (err) {
    // Stopped here, as the caller cannot: left running, they kept the test process alive past its failure.
    await stopAll(workers);
    throw err;
  }
  return () => stopAll(workers);
}

test('GET /v1/data-loss lists what the workers recorded after FLUSHALL; a read token may not acknowledge (403); the admin does (audited), then []', async () => {
  const config = configOf(randomPipeline('dla'));
  const { app, url } = await startConsole(config);
  let stop: (() => Promise<void>) | undefined;
  try {
    const get = () => fetch(`${url}/v1/data-loss`, { headers: auth(READ) });
    const before = await get();
    assert.is(before.status, 200);
    assert.equal(await before.json(), [], 'nothing lost yet: []');

    stop = await loseData(config);
    const listed = (await (await get()).json()) as Record<string, unknown>[];
    assert.is(listed.length, 1, JSON.stringify(listed));
    const r = listed[0]!;
    assert.is(r.tag, `{${config.pipeline}}`);
    assert.ok(['group_vanished', 'marker_gone', 'marker_changed'].includes(String(r.what)), JSON.stringify(r));
    assert.ok(
      r.stage === 'api' || config.stages.some((s) => s.name === r.stage),
      `a stage of the pipeline, or the API server's own watch, saw it: ${JSON.stringify(r)}`,
    );
    assert.ok(r.consumer && typeof r.at === 'number' && Number(r.reports) >= 1, JSON.stringify(r));

    const post = (token?: string) => fetch(`${url}/v1/data-loss/ack`, { method: 'POST', headers: token ? auth(token) : {} });
    assert.is((await post()).status, 401, 'no token');
    const refused = await post(READ);
    assert.is(refused.status, 403, 'a read token may not acknowledge');
    assert.is((await readDataLoss(redis, config)).length, 1, 'the record is still there');

    const acked = await post(ADMIN);
    assert.is(acked.status, 200);
    const body = (await acked.json()) as { acknowledged: { tag: string }[]; at: number };
    assert.equal(
      body.acknowledged.map((x) => x.tag),
      [`{${config.pipeline}}`],
    );
    assert.ok(body.at >= Number(r.at), 'when it was acknowledged');
    assert.equal(await (await get()).json(), [], 'acknowledged: []');
    assert.equal(await readDataLoss(redis, config), []);
    const trail = await readAudit(redis, new Keys(config.pipeline));
    const entry = trail.find((e) => e.action === 'data_loss_ack');
    assert.is(entry?.by, 'alice', JSON.stringify(trail));
    assert.equal(
      (entry?.records as { tag: string }[]).map((x) => x.tag),
      [`{${config.pipeline}}`],
    );

    const doc = (await (await fetch(`${url}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    assert.ok(doc.paths['/v1/data-loss']?.get, 'GET /v1/data-loss documented');
    assert.ok(doc.paths['/v1/data-loss/ack']?.post, 'POST /v1/data-loss/ack documented');
  } finally {
    await stop?.();
    await app.close();
  }
});

test('sharded: one record per shard listed, one admin ack clears them all', async () => {
  const config = configOf(randomPipeline('dls'), 2);
  const { app, url } = await startConsole(config);
  let stop: (() => Promise<void>) | undefined;
  try {
    stop = await loseData(config);
    const listed = (await (await fetch(`${url}/v1/data-loss`, { headers: auth(READ) })).json()) as { tag: string }[];
    assert.equal(listed.map((x) => x.tag).sort(), [`{${config.pipeline}:0}`, `{${config.pipeline}:1}`]);
    const acked = await fetch(`${url}/v1/data-loss/ack`, { method: 'POST', headers: auth(ADMIN) });
    assert.is(((await acked.json()) as { acknowledged: unknown[] }).acknowledged.length, 2);
    assert.equal(await readDataLoss(redis, config), []);
  } finally {
    await stop?.();
    await app.close();
  }
});

test.run();
