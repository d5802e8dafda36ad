/**
 * One loss, one report per worker per shard (lib/stream/data-loss.ts EpochMarker): a redis-server
 * without persistence restarted empty under running workers is seen twice by each of them, by the
 * marker check (`marker_gone`) and by the read loop (NOGROUP: `group_vanished`), in either order or
 * at once; each worker logs one `redis.data_lost` line, counts one, and adds one report to the record.
 * A group that vanishes again later (after the worker made it again) is a new loss, reported again.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { resolveConfig } from '../../lib/config/load.js';
import type { PipelineConfig, ResolvedConfig } from '../../lib/config/types.js';
import { Keys } from '../../lib/redis/keys.js';
import { FAST, loggedWorkers } from '../helpers/pipeline.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';
import { produceItems, storedAll } from '../helpers/outage-records.js';
import { listener } from '../helpers/statsd.js';

/** The marker is read again this often: often enough that the check and the read loop's NOGROUP meet. */
const CHECK_MS = 20;
const statsd = await listener();

function configFor(url: string, pipeline: string): ResolvedConfig {
  const raw = JSON.parse(readFileSync(new URL('../../config/rules-only.json', import.meta.url), 'utf8')) as PipelineConfig;
  const metrics = { enabled: true, host: '127.0.0.1', port: statsd.port, flushIntervalMs: 20 };
  const defaults = { ...raw.defaults, ...FAST, dataLossCheckMs: CHECK_MS };
  return resolveConfig({ ...raw, pipeline, defaults, metrics }, 'test', { env: { REDIS_URL: url } });
}

const parsed = (logs: string[]) => logs.map((l) => JSON.parse(l) as Record<string, unknown>);
const lostLines = (logs: string[]) => parsed(logs).filter((l) => l.event === 'redis.data_lost');
const recreated = (logs: string[]) =>
  new Set(
    parsed(logs)
      .filter((l) => l.event === 'consumer.group_recreated')
      .map((l) => l.stage),
  );
/** What the counter `redis.data_lost` added up to, per stage. */
function counted(): Record<string, number> {
  const by: Record<string, number> = {};
  for (const l of statsd.lines) if (l.name === 'redis.data_lost') by[l.tags.stage!] = (by[l.tags.stage!] ?? 0) + l.value;
  return by;
}

test('a restart without persistence under running workers: one redis.data_lost line, one count and one report per worker, though the marker check and NOGROUP both see it', async () => {
  const server = await startRedis();
  const config = configFor(server.url, randomPipeline('d1'));
  const keys = new Keys(config.pipeline);
  const logs: string[] = [];
  const workers = loggedWorkers(config, logs);
  const stages = config.stages.map((s) => s.name).sort();
  try {
    await produceItems(server.url, keys, 0, 50);
    await waitFor('first 50 stored', () => storedAll(server.url, keys, 0, 50), 60_000);
    await server.restart('SIGKILL');
    // Both signs have been seen by then: every read loop met NOGROUP and made its group again, and the
    // marker was read again (a check runs every CHECK_MS; the records stored after it took many).
    await waitFor('every worker made its group again', () => recreated(logs).size === stages.length, 30_000);
    await produceItems(server.url, keys, 50, 50);
    await waitFor('the 50 produced after the restart stored', () => storedAll(server.url, keys, 50, 50), 60_000);
    for (const w of workers.workers) assert.is(await w.dataLoss.checkAll(), false, 'the marker adopted after the report: nothing new');

    const lines = lostLines(logs);
    const perWorker = lines.map((l) => `${String(l.stage)} ${String(l.tag)}`).sort();
    assert.equal(
      perWorker,
      stages.map((s) => `${s} ${keys.tag}`),
      `one line per worker: ${JSON.stringify(lines)}`,
    );
    await waitFor('each worker counted', () => Object.keys(counted()).length === stages.length, 10_000);
    assert.equal(counted(), Object.fromEntries(stages.map((s) => [s, 1])), 'counted once per worker');
    const redis = client(server.url);
    try {
      assert.is(await redis.hget(keys.dataLost, 'reports'), String(stages.length), 'one report per worker in the record');
    } finally {
      redis.disconnect();
    }

    // A later loss of a group the worker made again (someone deleted it) is a new one: reported again.
    const admin = client(server.url);
    try {
      await admin.xgroup('DESTROY', keys.stream('in'), 'preprocess');
    } finally {
      admin.disconnect();
    }
    await waitFor('the second loss reported', () => lostLines(logs).length === stages.length + 1, 30_000);
    const second = lostLines(logs).at(-1)!;
    assert.is(second.what, 'group_vanished');
    assert.is(second.stage, 'preprocess');
  } finally {
    await workers.stop();
    await server.close();
  }
});

test.after(() => void statsd.socket.close());
test.run();
