/**
 * Redis losing the pipeline's data is loud (lib/stream/data-loss.ts, lib/worker/data-loss-watch.ts):
 * redis-server without persistence SIGKILLed and restarted empty under running workers gives the
 * error line `redis.data_lost`, the counter, the record `{p}:data-lost` that `pipeline health
 * --data-loss` (exit 1) and `pipeline status` (`dataLost`) show until `--ack-data-loss`; the workers
 * go on. A fresh Redis and a restart with the AOF on raise nothing. Sharded, each shard has its marker and record.
 */
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import type { PipelineConfig, ResolvedConfig } from '../../lib/config/types.js';
import { Keys } from '../../lib/redis/keys.js';
import type { RedisServer } from '../../lib/redis/server.js';
import { cli, exited, FAST, loggedWorkers, writeConfig } from '../helpers/pipeline.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';
import { produceItems, storedAll } from '../helpers/outage-records.js';
import { listener } from '../helpers/statsd.js';
import { listeningApi } from '../helpers/api-server.js';

/** The timers of this file: the marker is read again this often. */
const CHECK_MS = 100;
const TIMERS = { ...FAST, dataLossCheckMs: CHECK_MS };
const statsd = await listener();

function configFor(url: string, pipeline: string, shards = 1): { config: ResolvedConfig; file: string } {
  const raw = JSON.parse(readFileSync(new URL('../../config/rules-only.json', import.meta.url), 'utf8')) as PipelineConfig;
  const metrics = { enabled: true, host: '127.0.0.1', port: statsd.port, flushIntervalMs: 20 };
  const config = resolveConfig({ ...raw, pipeline, shards, defaults: { ...raw.defaults, ...TIMERS }, metrics }, 'test', { env: { REDIS_URL: url } });
  return { config, file: writeConfig(pipeline, TIMERS, { shards }) };
}

/** `pipeline <args>` against this config: exit code and output. */
async function run(file: string, url: string, args: string[]): Promise<{ code: number | null; out: string }> {
  const child = cli(['--config', file, ...args], url);
  const code = await exited(child);
  return { code, out: child.output() };
}

/** The JSON line of `pipeline status --json` in a command's output. */
const statusJson = (out: string) => JSON.parse(out.split('\n').find((l) => l.includes('"dataLost"'))!) as { dataLost: unknown[] };

const lostLines = (logs: string[]) => logs.filter((l) => l.includes('"event":"redis.data_lost"')).map((l) => JSON.parse(l) as Record<string, unknown>);

async function startWorkersAndStore(server: RedisServer, pipeline: string, logs: string[]) {
  const { config, file } = configFor(server.url, pipeline);
  const keys = new Keys(config.pipeline);
  const workers = loggedWorkers(config, logs);
  try {
    await produceItems(server.url, keys, 0, 100);
    await waitFor('first 100 stored', () => storedAll(server.url, keys, 0, 100), 60_000);
  } catch (err) {
    // The caller's try begins after this returns: stop what would hold the process (as data-loss-api's loseData).
    await workers.stop();
    await server.close();
    throw err;
  }
  return { config, file, keys, workers };
}

test('Redis without persistence restarted empty under running workers: redis.data_lost (log, metric, record), health --data-loss exit 1, status dataLost; the workers go on; --ack-data-loss clears it', async () => {
  // No persistence: `--save ''`, no AOF (startRedis's default): a restart comes back empty.
  const server = await startRedis();
  const logs: string[] = [];
  const { file, keys, workers } = await startWorkersAndStore(server, randomPipeline('dl'), logs);
  try {
    // A fresh Redis (first run): the marker was written, and nothing raised.
    const redis = client(server.url);
    try {
      assert.ok(await redis.get(keys.epoch), 'the data-loss marker {p}:epoch was written at start');
    } finally {
      redis.disconnect();
    }
    // A check of the marker now (as each worker's runs every CHECK_MS): nothing lost.
    for (const w of workers.workers) assert.is(await w.dataLoss.checkAll(), false, 'a fresh Redis: no loss seen');
    const fresh = await run(file, server.url, ['health', '--data-loss']);
    assert.is(fresh.code, 0, `a fresh Redis raises no alarm: ${fresh.out}`);
    assert.equal(lostLines(logs), [], 'no redis.data_lost on a fresh Redis');

    await server.restart('SIGKILL');
    await waitFor('redis.data_lost logged', () => lostLines(logs).length > 0, 30_000);
    const line = lostLines(logs)[0]!;
    assert.is(line.level, 'error');
    assert.ok(['group_vanished', 'marker_gone'].includes(String(line.what)), `what was seen: ${JSON.stringify(line)}`);
    assert.ok(line.stream && line.stage && line.consumer, `names stream, stage and consumer: ${JSON.stringify(line)}`);
    await waitFor('redis.data_lost counted', () => statsd.lines.some((l) => l.name === 'redis.data_lost' && l.value >= 1), 10_000);

    // The workers went on: records produced after the restart are stored.
    await produceItems(server.url, keys, 100, 100);
    await waitFor('the 100 produced after the restart stored', () => storedAll(server.url, keys, 100, 100), 60_000);

    const health = await run(file, server.url, ['health', '--data-loss']);
    assert.is(health.code, 1, `health --data-loss exits 1: ${health.out}`);
    assert.match(health.out, /REDIS LOST DATA/);
    assert.match(health.out, /--ack-data-loss/);
    // The restart wiped the liveness markers too: the probe passes once the consumer's watchdog has
    // beaten again (at once when its command connection is back), whatever the data loss.
    let probe = { code: null as number | null, out: '' };
    await waitFor(
      'the probe passes (a restart would not bring the data back)',
      async () => (probe = await run(file, server.url, ['health', '--stage', 'preprocess', '--pid', String(process.pid)])).code === 0,
      15_000,
      250,
    ).catch(() => assert.unreachable(`the probe still passes (a restart would not bring the data back): ${probe.out}`));
    assert.match(probe.out, /"degraded":"REDIS LOST DATA/);

    const status = await run(file, server.url, ['status', '--json']);
    assert.is(status.code, 0, status.out);
    const json = statusJson(status.out) as { dataLost: Record<string, unknown>[] };
    assert.is(json.dataLost.length, 1, status.out);
    assert.is(json.dataLost[0]!.tag, keys.tag);
    assert.ok(Number(json.dataLost[0]!.reports) >= 1);
    const api = await listeningApi(configFor(server.url, keys.pipeline).config, 'data-loss-token');
    try {
      const ready = await fetch(`${api.base}/readyz`);
      const body = (await ready.json()) as { ready: boolean; dataLost?: unknown[]; degraded?: string };
      assert.is(ready.status, 200, 'readiness holds: the API serves what comes next');
      assert.is(body.dataLost?.length, 1, JSON.stringify(body));
      assert.match(body.degraded ?? '', /^REDIS LOST DATA/);
    } finally {
      await api.app.close();
    }
    const table = await run(file, server.url, ['status']);
    assert.match(table.out, /^REDIS LOST DATA: at .* worker .* saw that/m);

    const ack = await run(file, server.url, ['health', '--ack-data-loss']);
    assert.is(ack.code, 0, ack.out);
    assert.match(ack.out, /"acknowledged":\[\{/);
    const after = await run(file, server.url, ['health', '--data-loss']);
    assert.is(after.code, 0, `acknowledged: ${after.out}`);
    assert.equal(statusJson((await run(file, server.url, ['status', '--json'])).out).dataLost, []);
  } finally {
    await workers.stop();
    await server.close();
  }
});

test('a restart with the AOF on (nothing lost) raises no alarm', async () => {
  const server = await startRedis({ appendonly: true, appendfsync: 'always' });
  const logs: string[] = [];
  const { file, keys, workers } = await startWorkersAndStore(server, randomPipeline('dk'), logs);
  try {
    const redis = client(server.url);
    const marker = await redis.get(keys.epoch);
    redis.disconnect();
    await server.restart('SIGKILL');
    await produceItems(server.url, keys, 100, 100);
    await waitFor('the 100 produced after the restart stored', () => storedAll(server.url, keys, 100, 100), 60_000);
    // Each worker reads the marker again after the restart (as its own check every CHECK_MS does): the one it saw, no loss.
    for (const w of workers.workers) assert.is(await w.dataLoss.checkAll(), false, 'the marker came back with the AOF');
    const again = client(server.url);
    assert.is(await again.get(keys.epoch), marker, 'the same marker');
    again.disconnect();
    const health = await run(file, server.url, ['health', '--data-loss']);
    assert.is(health.code, 0, `no alarm: ${health.out}`);
    assert.equal(lostLines(logs), [], 'no redis.data_lost');
  } finally {
    await workers.stop();
    await server.close();
  }
});

test('a check that keeps failing otherwise than by an outage (the marker made another type) is said once at warn: the alarm is blind, not silent', async () => {
  const server = await startRedis();
  const logs: string[] = [];
  const { file, keys, workers } = await startWorkersAndStore(server, randomPipeline('db'), logs);
  const checkErrors = () =>
    logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.event === 'redis.data_loss_check_error' && l.level === 'warn');
  try {
    const redis = client(server.url);
    await redis.multi().del(keys.epoch).hset(keys.epoch, 'x', '1').exec();
    // WRONGTYPE at every check from now on: one warn line per worker (its watch), not one per check, and no false alarm.
    await waitFor('each worker says its check fails', () => new Set(checkErrors().map((l) => l.stage)).size === workers.workers.length, 10_000);
    await new Promise((r) => setTimeout(r, CHECK_MS * 5));
    assert.is(checkErrors().length, workers.workers.length, 'said once per worker');
    assert.equal(lostLines(logs), [], 'no redis.data_lost');
    // The record unreadable (another type): the probes say so rather than "nothing lost".
    await redis.set(keys.dataLost, 'not a hash');
    const probe = await run(file, server.url, ['health', '--stage', 'preprocess', '--pid', String(process.pid)]);
    // (Its exit code is the consumer's health: its first liveness beat may not be written yet.)
    assert.match(probe.out, /"dataLossUnread":"WRONGTYPE/);
    const api = await listeningApi(configFor(server.url, keys.pipeline).config, 'data-loss-token');
    try {
      const body = (await (await fetch(`${api.base}/readyz`)).json()) as { dataLossUnread?: string };
      assert.match(body.dataLossUnread ?? '', /^WRONGTYPE/, JSON.stringify(body));
    } finally {
      await api.app.close();
    }
    redis.disconnect();
  } finally {
    await workers.stop();
    await server.close();
  }
});

test('sharded: each shard has its marker and its record, status lists each shard that lost data', async () => {
  const server = await startRedis();
  const { config, file } = configFor(server.url, randomPipeline('ds'), 2);
  const logs: string[] = [];
  const workers = loggedWorkers(config, logs);
  try {
    const redis = client(server.url);
    try {
      const markers = Keys.shards(config.pipeline, 2).map((k) => k.epoch);
      assert.equal(markers, [`{${config.pipeline}:0}:epoch`, `{${config.pipeline}:1}:epoch`]);
      await waitFor('both shards have their marker', async () => (await redis.exists(...markers)) === 2);
    } finally {
      redis.disconnect();
    }
    await server.restart('SIGKILL');
    await waitFor('a record on each shard', async () => statusJson((await run(file, server.url, ['status', '--json'])).out).dataLost.length === 2, 30_000);
    const tags = (statusJson((await run(file, server.url, ['status', '--json'])).out).dataLost as { tag: string }[]).map((r) => r.tag).sort();
    assert.equal(tags, [`{${config.pipeline}:0}`, `{${config.pipeline}:1}`]);
    const health = await run(file, server.url, ['health', '--data-loss']);
    assert.is(health.code, 1, health.out);
    assert.ok(
      lostLines(logs).some((l) => l.tag === `{${config.pipeline}:1}`),
      'the line names the shard',
    );
  } finally {
    await workers.stop();
    await server.close();
  }
});

test.after(() => void statsd.socket.close());
test.run();
