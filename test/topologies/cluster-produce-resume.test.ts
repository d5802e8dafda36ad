/**
 * A resumed `produce()` run (`runId`) on a real Redis Cluster (3 masters + 3 replicas,
 * test/helpers/cluster.ts; 4 shards, rules-only workers in-process) that starts just as the master
 * of shard 0 is SIGKILLed: each lane reads its own shard's run state, so the shards on the other
 * masters skip what the interrupted run had added and store the rest during the failover (gaps
 * under a bound from the run's options), and once the replica is promoted every record is stored
 * once; the run reports exactly the interrupted run's records as skipped and the rest as produced.
 * Before, the reader read each lane's state before its first record, so the read at the dead
 * master held every lane for the whole failover.
 */
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { sleep } from '../../lib/core/backoff.js';
import { produce, type ProduceOptions } from '../../lib/producer/producer.js';
import { createClient } from '../../lib/redis/url.js';
import { RedisCluster } from '../helpers/cluster.js';
import { failOverShard0, failoverCase, SLACK_MS } from '../helpers/failover-gaps.js';

const SHARDS = 4;
/** cluster-node-timeout: the dead master's shards wait at least this long for the promotion. */
const NODE_TIMEOUT_MS = 6_000;
/** The run's retryMaxMs: a lane's batch (or state read) refused by the cluster is tried again within this. */
const RETRY_MAX_MS = 250;
/** Records per line group and the pause between groups after the interrupted run's part: a steady flow. */
const GROUP = 8;
const EVERY_MS = 50;
/** What the interrupted run read before its input failed (not a multiple of GROUP: its last, filling batch is lost). */
const FIRST = 203;
/** Longest gap allowed on a healthy master's shard during the failover, as test/topologies/cluster-produce-failover.test.ts (SLACK_MS: test/helpers/failover-gaps.ts). */
const BOUND_MS = 2 * RETRY_MAX_MS + 2 * EVERY_MS + SLACK_MS;

const cluster = await new RedisCluster({ masters: 3, replicas: 1, nodeTimeoutMs: NODE_TIMEOUT_MS }).start();
const redis = createClient(cluster.url, { connectionName: 'test:check', maxRetriesPerRequest: null });
redis.on('error', () => {});

const line = (i: number) => JSON.stringify({ id: `r${i}`, title: `Product r${i}` }) + '\n';

test(`a resumed run starting as a master dies: the other shards store during the failover (gaps under ${BOUND_MS} ms), exactly the rest sent`, async () => {
  const setup = await failoverCase(cluster, SHARDS);
  const { config, shards, producer, close } = setup;
  const runId = 'resume-at-failover';
  const opts: ProduceOptions = { ...setup.produceOptions(GROUP, RETRY_MAX_MS), runId };
  let stop = false;
  const ids: string[] = [];
  let producing: Promise<Awaited<ReturnType<typeof produce>>> | undefined;
  try {
    // The interrupted run: its input fails after FIRST lines; the batches closed before are in.
    async function* interrupted(): AsyncGenerator<string> {
      for (let i = 0; i < FIRST; i++) yield line(i);
      throw new Error('input lost');
    }
    const failed = await produce(producer, Readable.from(interrupted()), opts).then(
      () => 'resolved',
      (err: unknown) => String(err),
    );
    assert.match(failed, /input lost/, 'the interrupted run fails with its input');
    const states = await Promise.all(shards.all.map((k) => redis.get(`${k.stream(config.input)}:producer:${runId}`)));
    const added = states.reduce((sum, s) => sum + Number(s?.split(' ')[0] ?? 0), 0);
    assert.ok(added > 0 && added < FIRST, `the interrupted run added part of its input (${added} of ${FIRST})`);

    // The resumed run: the same input from its first line, then a steady flow until stopped.
    async function* lines(): AsyncGenerator<string> {
      for (let i = 0, n = FIRST; !stop; n = GROUP) {
        const group = Array.from({ length: n }, () => i++);
        ids.push(...group.map((j) => `r${j}`));
        yield group.map(line).join('');
        await sleep(EVERY_MS);
      }
    }
    const run = await failOverShard0({
      ...setup,
      cluster,
      redis,
      ids,
      boundMs: BOUND_MS,
      flowing: 10,
      label: 'resumed produce',
      onKilled: () => {
        producing = produce(producer, Readable.from(lines()), opts);
        producing.catch(() => {}); // awaited in stopProducing
      },
      stopProducing: async () => {
        stop = true;
        return producing!;
      },
    });
    assert.is(run.produced.skipped, added, 'skipped: exactly what the interrupted run had added');
    assert.is(run.produced.produced, ids.length - added, 'produced: exactly the rest');
  } finally {
    stop = true;
    await producing?.catch(() => undefined);
    await close();
  }
});

test.after(async () => {
  redis.disconnect();
  await cluster.close();
});
test.run();
