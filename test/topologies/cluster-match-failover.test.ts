/**
 * A failover of one master pauses only the shards it holds, also with the match stage, whose
 * vector sync reads every shard (stages/domain/shard-waits.ts). A real 3-master / 3-replica
 * cluster (test/helpers/cluster.ts), a 4-shard pipeline preprocess → match (product-embed) →
 * store with in-process workers, one producer per shard (a producer's batch to the dead master
 * would hold the records of every shard it feeds), the master of shard 0 SIGKILLed mid-run. Before,
 * every shard stopped storing until the replica was promoted (node timeout and more).
 */
import { Readable } from 'node:stream';
import { test } from 'uvu';
import { sleep } from '../../lib/core/backoff.js';
import { resolveConfig } from '../../lib/config/load.js';
import type { PipelineConfig } from '../../lib/config/types.js';
import { produce } from '../../lib/producer/producer.js';
import { configShards } from '../../lib/redis/shard.js';
import { createClient } from '../../lib/redis/url.js';
import { RedisCluster } from '../helpers/cluster.js';
import { failOverShard0, SLACK_MS } from '../helpers/failover-gaps.js';
import { pipelineWhere } from '../helpers/cluster-pipelines.js';
import { FAST, startWorkers, stopAll } from '../helpers/pipeline.js';

const SHARDS = 4;
/** cluster-node-timeout: the dead master's shards wait at least this long for the promotion. */
const NODE_TIMEOUT_MS = 6_000;
/** The match stage's settings.shardWaitMs here. */
const SHARD_WAIT_MS = 300;
/**
 * Longest gap allowed between two records stored on a healthy master's shard while the other
 * master is down: a batch of the dead master's shard held up to shardWaitMs on its writes, the
 * first sync after it up to shardWaitMs on the dead shard, and SLACK_MS (test/helpers/failover-gaps.ts).
 * Before the fix the gap was the whole failover.
 */
const BOUND_MS = 2 * SHARD_WAIT_MS + SLACK_MS;

const cluster = await new RedisCluster({ masters: 3, replicas: 1, nodeTimeoutMs: NODE_TIMEOUT_MS }).start();
const redis = createClient(cluster.url, { connectionName: 'test:check', maxRetriesPerRequest: null });
redis.on('error', () => {});

test(`a master dies mid-run: the match stage's records on the other masters' shards keep being stored (gaps under ${BOUND_MS} ms), every record stored once`, async () => {
  const { pipeline, masterOf } = await pipelineWhere(cluster, SHARDS, 'm', (m) => new Set(m).size >= 2);
  const raw: PipelineConfig = {
    pipeline,
    input: 'in',
    shards: SHARDS,
    defaults: FAST,
    stages: [
      { name: 'preprocess', kind: 'preprocess', input: 'in' },
      { name: 'match', kind: 'match', model: 'product-embed', settings: { shardWaitMs: SHARD_WAIT_MS } },
      { name: 'store', kind: 'store', settings: { sink: 'redis' } },
    ],
    routes: { preprocess: [{ to: 'match' }], match: [{ to: 'store' }] },
  } as PipelineConfig;
  const config = resolveConfig(raw, 'test', { env: { REDIS_URL: cluster.url } });
  const shards = configShards(config);
  const victim = masterOf[0]!;
  const healthy = masterOf.flatMap((m, i) => (m === victim ? [] : [i]));
  const workers = startWorkers(config);
  const producer = createClient(cluster.url, { connectionName: 'test:producer', maxRetriesPerRequest: null });
  producer.on('error', () => {});
  let stop = false;
  const ids: string[] = [];
  // Each shard's own records, a few every 50 ms: a steady flow whose gaps are the pipeline's.
  async function* lines(s: number): AsyncGenerator<string> {
    for (let i = 0; !stop;) {
      const batch: string[] = [];
      while (batch.length < 4) {
        const id = `r${i++}`;
        if (shards.shardOf(id) !== s) continue;
        ids.push(id);
        batch.push(JSON.stringify({ id, title: `Product ${i % 200} widget ${i}` }));
      }
      yield batch.join('\n') + '\n';
      await sleep(50);
    }
  }
  const producing = Promise.all(
    shards.all.map((k, s) =>
      produce(producer, Readable.from(lines(s)), { stream: k.stream('in'), source: `test-${s}`, maxRecordBytes: 65536, batchSize: 4, retryForMs: 60_000 }),
    ),
  );
  try {
    await failOverShard0({
      cluster,
      redis,
      config,
      shards,
      victim,
      masterOf,
      healthy,
      ids,
      boundMs: BOUND_MS,
      flowing: 50,
      label: 'match',
      stopProducing: async () => {
        stop = true;
        await producing;
      },
    });
  } finally {
    stop = true;
    await producing.catch(() => undefined);
    await stopAll(workers);
    producer.disconnect();
  }
});

test.after(async () => {
  redis.disconnect();
  await cluster.close();
});
test.run();
