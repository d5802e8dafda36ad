/**
 * One `produce()` run feeding every shard of a 4-shard pipeline on a real Redis Cluster (3 masters
 * + 3 replicas, test/helpers/cluster.ts; rules-only workers in-process) while the master of shard 0
 * is SIGKILLed: the shards on the other masters keep being stored, each gap under a bound from the
 * run's retry options (the producer's lanes, lib/producer/lane.ts), and once the replica is
 * promoted every record is stored once. Before, each batch went to all its shards and the run waited
 * for all of them, so the healthy shards starved for the whole failover.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { produce } from '../../lib/producer/producer.js';
import { createClient } from '../../lib/redis/url.js';
import { RedisCluster } from '../helpers/cluster.js';
import { failoverCase, failOverShard0, SLACK_MS, steadyFlow } from '../helpers/failover-gaps.js';

const SHARDS = 4;
/** cluster-node-timeout: the dead master's shards wait at least this long for the promotion. */
const NODE_TIMEOUT_MS = 6_000;
/** The run's retryMaxMs: a lane's batch refused by the cluster is tried again within this. */
const RETRY_MAX_MS = 250;
/** Records per line group and the pause between groups: a steady flow (about 160 records/s). */
const GROUP = 8;
const EVERY_MS = 50;
/** The dead master's lanes hold what they read during the failover: far below this, so the reader never waits for them. */
const LANE_BYTES = 4 * 1024 * 1024;
/**
 * Longest gap allowed between two records stored on a healthy master's shard during the failover:
 * two retry delays and two groups, and SLACK_MS (test/helpers/failover-gaps.ts). Before the lanes,
 * the gap was the whole failover (node timeout and more).
 */
const BOUND_MS = 2 * RETRY_MAX_MS + 2 * EVERY_MS + SLACK_MS;

const cluster = await new RedisCluster({ masters: 3, replicas: 1, nodeTimeoutMs: NODE_TIMEOUT_MS }).start();
const redis = createClient(cluster.url, { connectionName: 'test:check', maxRetriesPerRequest: null });
redis.on('error', () => {});

test(`a master dies during one produce run: the other masters' shards keep being stored (gaps under ${BOUND_MS} ms), every record stored once`, async () => {
  const setup = await failoverCase(cluster, SHARDS);
  const { producer, close } = setup;
  const flow = steadyFlow(GROUP, EVERY_MS);
  const { ids } = flow;
  const producing = produce(producer, flow.lines, { ...setup.produceOptions(GROUP, RETRY_MAX_MS), laneBufferBytes: LANE_BYTES });
  producing.catch(() => {}); // awaited below
  try {
    const run = await failOverShard0({
      ...setup,
      cluster,
      redis,
      ids,
      boundMs: BOUND_MS,
      flowing: 30,
      label: 'produce',
      stopProducing: async () => {
        flow.stop();
        return producing;
      },
    });
    assert.is(run.produced.produced, ids.length, 'produced = read');
  } finally {
    flow.stop();
    await producing.catch(() => undefined);
    await close();
  }
});

test.after(async () => {
  redis.disconnect();
  await cluster.close();
});
test.run();
