/**
 * The data-loss alarm on a Redis Cluster (lib/stream/data-loss.ts, one marker per shard in the
 * shard's slot): 3 shards on the 3 masters of a Cluster (no replicas), workers running, then ONE
 * master FLUSHALLed (as a restart without persistence leaves it). Every worker, and the API server's
 * own watch, reports the loss naming that shard's tag, once; the record is on that shard only, and
 * `GET /v1/data-loss` lists it; the other shards' markers,
 * groups and stored products are untouched; the workers go on storing on the lost shard.
 */
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import type { PipelineConfig, ResolvedConfig } from '../../lib/config/types.js';
import { readDataLoss } from '../../lib/ops/data-loss.js';
import { produce } from '../../lib/producer/producer.js';
import { configShards } from '../../lib/redis/shard.js';
import { createClient } from '../../lib/redis/url.js';
import { RedisCluster } from '../helpers/cluster.js';
import { pipelineWhere } from '../helpers/cluster-pipelines.js';
import { createLogger } from '../../lib/observe/logger.js';
import { listeningApi } from '../helpers/api-server.js';
import { FAST, loggedWorkers } from '../helpers/pipeline.js';
import { waitFor } from '../helpers/redis.js';

const SHARDS = 3;
const TOKEN = 'cluster-data-loss-token-0123456789';
/** The workers read the markers again this often (stage option dataLossCheckMs). */
const CHECK_MS = 100;
/** How long storing a batch, or seeing the loss, may take. */
const WAIT_MS = 30_000;
const RAW = JSON.parse(readFileSync(new URL('../../config/rules-only.json', import.meta.url), 'utf8')) as PipelineConfig;

const cluster = await new RedisCluster({ masters: 3, replicas: 0 }).start();
const redis = createClient(cluster.url, { connectionName: 'test:check', maxRetriesPerRequest: null });
redis.on('error', () => {});

const configOf = (pipeline: string): ResolvedConfig =>
  resolveConfig({ ...RAW, pipeline, shards: SHARDS, defaults: { ...RAW.defaults, ...FAST, dataLossCheckMs: CHECK_MS } }, 'test', {
    env: { REDIS_URL: cluster.url },
  });

const lostLines = (logs: string[]) => logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.event === 'redis.data_lost');

test('one master of three FLUSHALLed under running workers: the alarm names its shard only, once per worker; the other shards untouched; the workers go on', async () => {
  // A pipeline whose 3 shards are on the 3 masters, one each.
  const { pipeline, masterOf } = await pipelineWhere(cluster, SHARDS, 'cdl', (m) => new Set(m).size === SHARDS);
  const config = configOf(pipeline);
  const shards = configShards(config);
  const logs: string[] = [];
  const workers = loggedWorkers(config, logs);
  const api = await listeningApi(config, TOKEN, { logger: createLogger({ component: 'api' }, 'info', (l) => logs.push(l)) }).catch(async (err: unknown) => {
    await workers.stop(); // the try below has not begun: left running, they would hold the process
    throw err;
  });
  const ids = (from: number, n: number) => Array.from({ length: n }, (_, i) => `r${from + i}`);
  const storedAll = async (keys: string[]) => (await Promise.all(keys.map((id) => redis.exists(shards.keysFor(id).product(id))))).every((x) => x === 1);
  const produceIds = (list: string[]) =>
    produce(redis, Readable.from([list.map((id) => JSON.stringify({ id, title: `Product ${id}` })).join('\n')]), {
      stream: shards.all[0]!.stream('in'),
      streamFor: (k) => shards.keysFor(k).stream('in'),
      source: 'test',
      maxRecordBytes: 65536,
    });
  try {
    const first = ids(0, 300);
    await produceIds(first);
    await waitFor('the first 300 stored', () => storedAll(first), WAIT_MS, 100);
    const markers = await Promise.all(shards.all.map((k) => redis.get(k.epoch)));
    assert.ok(markers.every(Boolean), `every shard has its marker: ${JSON.stringify(markers)}`);

    const victim = 1;
    const lostTag = shards.all[victim]!.tag;
    const onVictim = first.filter((id) => shards.keysFor(id).tag === lostTag);
    const elsewhere = first.filter((id) => shards.keysFor(id).tag !== lostTag);
    assert.ok(onVictim.length > 0 && elsewhere.length > 0, 'records on the lost shard and on the others');
    const victimNode = cluster.node(masterOf[victim]!);
    await victimNode.flushall();
    victimNode.disconnect();

    // Every worker watches every shard's marker and reads the lost shard's stream, the API server watches the markers: each says it, naming that shard.
    const stages = [...config.stages.map((s) => s.name), 'api'].sort();
    await waitFor('every worker reported the loss', () => new Set(lostLines(logs).map((l) => l.stage)).size === stages.length, WAIT_MS, 50);
    // Two check rounds more: a report naming another shard, or a second one, would have come by then.
    for (const w of workers.workers) await w.dataLoss.checkAll();
    for (const w of workers.workers) assert.is(await w.dataLoss.checkAll(), false, 'nothing more to see');
    const lines = lostLines(logs);
    assert.equal(
      lines.map((l) => `${String(l.stage)} ${String(l.tag)}`).sort(),
      stages.map((s) => `${s} ${lostTag}`),
      `once per worker, naming the lost shard: ${JSON.stringify(lines)}`,
    );
    const records = await readDataLoss(redis, config);
    assert.equal(
      records.map((r) => r.tag),
      [lostTag],
      `the record on the lost shard only: ${JSON.stringify(records)}`,
    );
    assert.is(records[0]!.reports, stages.length);
    const listed = (await (await fetch(`${api.base}/v1/data-loss`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { tag: string }[];
    assert.equal(
      listed.map((r) => r.tag),
      [lostTag],
      'GET /v1/data-loss lists the lost shard',
    );

    // The other shards: the same markers, their groups and stored products all there.
    for (const [i, k] of shards.all.entries()) {
      if (i === victim) continue;
      assert.is(await redis.get(k.epoch), markers[i], `shard ${i}'s marker unchanged`);
      const groups = (await redis.xinfo('GROUPS', k.stream('in'))) as unknown[];
      assert.is(groups.length, 1, `shard ${i}'s group of its input stream is there`);
    }
    assert.ok(await storedAll(elsewhere), 'the other shards keep every stored product');
    assert.is(await redis.exists(...onVictim.slice(0, 10).map((id) => shards.keysFor(id).product(id))), 0, 'the lost shard lost its products');

    // The workers go on, on the lost shard too.
    const after = ids(300, 150);
    await produceIds(after);
    await waitFor('the 150 produced after the loss stored', () => storedAll(after), WAIT_MS, 100);
  } finally {
    await api.app.close();
    await workers.stop();
  }
});

test.after(async () => {
  redis.disconnect();
  await cluster.close();
});
test.run();
