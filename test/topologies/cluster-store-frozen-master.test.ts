/**
 * A store worker reading every shard of a 4-shard pipeline on a real Redis Cluster (3 masters, no
 * replicas: no failover can start) while the master of shard 0 is frozen (SIGSTOP, then SIGCONT)
 * as the store starts a batch of shard 0: the shards on the other masters keep being stored
 * meanwhile (the store stage says `concurrentShards`: its batch of shard 0, waiting on the frozen
 * master, does not queue theirs), with the Redis sink, with the Postgres sink (whose completions
 * are written to the record's shard), and with the stages fused into the store in one process (the
 * shipped `enrich` process's layout: the store runs in its upstream stage's batches); once the
 * master resumes every record is stored, once.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { sleep } from '../../lib/core/backoff.js';
import { isIdle, pipelineStatus } from '../../lib/ops/inspect.js';
import { produce } from '../../lib/producer/producer.js';
import { shardOf, type Shards } from '../../lib/redis/shard.js';
import { createClient } from '../../lib/redis/url.js';
import type { Stage, StageFactory } from '../../lib/worker/stage.js';
import { STAGES } from '../../stages/index.js';
import { RedisCluster } from '../helpers/cluster.js';
import { doneTimes, failoverCase, longestGap, steadyFlow } from '../helpers/failover-gaps.js';
import { findPostgresBin, migratedDatabase, PostgresServer } from '../helpers/postgres.js';
import { randomPipeline, waitFor } from '../helpers/redis.js';

const SHARDS = 4;
/** How long the master of shard 0 stays frozen. */
const FREEZE_MS = 8_000;
/** cluster-node-timeout: far above the freeze, so no node flags the frozen master failed (and the cluster stays up). */
const NODE_TIMEOUT_MS = 60_000;
/** Records per line group and the pause between groups: a steady flow on every shard. */
const GROUP = 8;
const EVERY_MS = 50;
/**
 * Longest a healthy shard may store nothing during the freeze: a few batches' time on a loaded
 * 2-core machine. Queued behind the frozen shard's batch, it stored nothing for the whole freeze.
 */
const BOUND_MS = 3_000;

const cluster = await new RedisCluster({ masters: 3, replicas: 0, nodeTimeoutMs: NODE_TIMEOUT_MS }).start();
const redis = createClient(cluster.url, { connectionName: 'test:check', maxRetriesPerRequest: null });
redis.on('error', () => {});
const pgBin = findPostgresBin();
const pgServer = pgBin ? await new PostgresServer({ bin: pgBin }).start() : undefined;

/** Called as the store starts a batch of shard 0, before it writes anything (then cleared). */
let onShard0Batch: (() => void) | undefined;

/** The store stage, calling `onShard0Batch` first: a master frozen there holds that batch's writes, not a read or a hand-off. */
const storeKinds: Record<string, StageFactory> = {
  ...STAGES,
  store: (ctx) => {
    const store = STAGES.store!(ctx);
    const watched = Object.create(store) as Stage;
    watched.process = (batch) => {
      if (onShard0Batch && batch.some((m) => shardOf(m.envelope.key, SHARDS) === 0)) onShard0Batch();
      return store.process(batch);
    };
    return watched;
  },
};

/**
 * Freeze shard 0's master under a steady flow as the store starts a batch of shard 0; the healthy
 * shards' gaps are asserted, and that `storedOnce` finds every record stored once. `fused`: the
 * stages run as one process.
 */
async function frozenMaster(store: Record<string, unknown>, storedOnce: (ids: readonly string[], shards: Shards) => Promise<number>, fused = false) {
  const setup = await failoverCase(cluster, SHARDS, store, { fused, kinds: storeKinds });
  const { config, shards, victim, healthy } = setup;
  const flow = steadyFlow(GROUP, EVERY_MS);
  const { ids } = flow;
  const producing = produce(setup.producer, flow.lines, { ...setup.produceOptions(GROUP, 250), laneBufferBytes: 4 * 1024 * 1024 });
  producing.catch(() => {}); // awaited below
  let frozen = false;
  try {
    const flowing = async () => (await Promise.all([0, ...healthy].map((s) => doneTimes(redis, shards, s)))).every((t) => t.length >= 20);
    await waitFor('records stored on every shard', flowing, 60_000, 100);
    let frozenAt = 0;
    onShard0Batch = () => {
      onShard0Batch = undefined;
      cluster.signal(victim, 'SIGSTOP');
      frozen = true;
      frozenAt = Date.now();
    };
    await waitFor('a store batch of shard 0', () => frozen, 30_000, 10);
    await sleep(FREEZE_MS);
    const resumedAt = Date.now();
    const gaps = await Promise.all(healthy.map(async (s) => longestGap(await doneTimes(redis, shards, s), frozenAt, resumedAt)));
    cluster.signal(victim, 'SIGCONT');
    frozen = false;
    console.log(
      `frozen master (${String(store.sink ?? 'redis')}${fused ? ', fused' : ''}): ${JSON.stringify({ freezeMs: resumedAt - frozenAt, healthy, gaps, bound: BOUND_MS })}`,
    );
    healthy.forEach((s, i) => assert.ok(gaps[i]! <= BOUND_MS, `shard ${s} stored nothing for ${gaps[i]} ms of the ${FREEZE_MS} ms freeze of shard 0's master`));
    await waitFor('the frozen shard stores again', async () => (await doneTimes(redis, shards, 0)).some((t) => t > resumedAt), 30_000, 100);
    flow.stop();
    const run = await producing;
    assert.is(run.produced, ids.length, 'produced = read');
    await waitFor('every record stored', async () => isIdle(await pipelineStatus(redis, config)) && (await storedOnce(ids, shards)) >= ids.length, 60_000, 200);
    assert.is((await pipelineStatus(redis, config)).dlq, 0, 'nothing dead-lettered');
    assert.is(await storedOnce(ids, shards), ids.length, 'each record stored once');
  } finally {
    onShard0Batch = undefined;
    if (frozen) cluster.signal(victim, 'SIGCONT');
    flow.stop();
    await producing.catch(() => undefined);
    await setup.close();
  }
}

const title = (sink: string) =>
  `${sink} sink, the master of one shard frozen ${FREEZE_MS} ms: the other shards keep being stored (gaps under ${BOUND_MS} ms), the frozen shard's records once after it resumes`;

/** How many of `ids` the Redis sink stored once (`copies` 1). */
async function storedOnceInRedis(ids: readonly string[], shards: Shards): Promise<number> {
  const copies = await Promise.all(ids.map((id) => redis.hget(shards.keysFor(id).product(id), 'copies')));
  return copies.filter((c) => c === '1').length;
}

test(title('Redis'), async () => {
  await frozenMaster({ sink: 'redis' }, storedOnceInRedis);
});

test(`${title('Redis')}, with the stages fused into the store in one process`, async () => {
  await frozenMaster({ sink: 'redis' }, storedOnceInRedis, true);
});

test(title('Postgres'), async () => {
  if (!pgServer) return console.log('SKIP the Postgres case: PostgreSQL server binaries not found (apt-get install -y postgresql, or set PG_BIN)');
  const { url, pool: db } = await migratedDatabase(pgServer, randomPipeline('db'), 1);
  try {
    await frozenMaster({ sink: 'postgres', postgresUrl: url }, async (ids) => {
      const r = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM products WHERE copies = 1 AND key = ANY($1)', [ids]);
      return r.rows[0]!.n;
    });
  } finally {
    await db.end();
  }
});

test.after(async () => {
  redis.disconnect();
  await pgServer?.close();
  await cluster.close();
});
test.run();
