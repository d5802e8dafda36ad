/**
 * Sharded pipelines on a real Redis Cluster: 3 masters, 3 replicas, loopback, cluster-node-timeout
 * 1 s (test/helpers/cluster.ts). Workers run in-process (rules-only stages, shrunk timers); the
 * CLI test runs `pipeline up`, `produce`, `status`, `dlq list` as child processes. The failover
 * tests SIGKILL a master mid-run and count what the producer was told is stored against what is.
 */
import { rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { sleep } from '../../lib/core/backoff.js';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { isIdle, pipelineStatus } from '../../lib/ops/inspect.js';
import { ProducerGapError } from '../../lib/core/errors.js';
import { produce } from '../../lib/producer/producer.js';
import { consumerName } from '../../lib/redis/keys.js';
import { createClient } from '../../lib/redis/url.js';
import { configShards, keySlot } from '../../lib/redis/shard.js';
import { RedisCluster } from '../helpers/cluster.js';
import { cli, exited, FAST, startWorkers, stopAll, writeConfig } from '../helpers/pipeline.js';
import { waitFor } from '../helpers/redis.js';
import { clusterPipelines } from '../helpers/cluster-pipelines.js';

const SHARDS = 4;
const cluster = await new RedisCluster({ masters: 3, replicas: 1, nodeTimeoutMs: 1000 }).start();
const redis = createClient(cluster.url, { connectionName: 'test:check', maxRetriesPerRequest: null });
redis.on('error', () => {});
const { clusterConfig, spreadPipeline } = clusterPipelines(cluster, SHARDS);

const record = (i: number) => ({ id: `r${i}`, title: `Product ${i}`, ...(i % 3 === 0 ? { mpn: `MX-${i}` } : {}) });

/** Connection names per node: CLIENT LIST of every live node. */
async function clientNames(): Promise<Map<number, string[]>> {
  const out = new Map<number, string[]>();
  for (const port of cluster.livePorts()) {
    const n = cluster.node(port);
    const list = (await n.call('CLIENT', 'LIST')) as string;
    n.disconnect();
    out.set(port, [...list.matchAll(/ name=(\S*)/g)].map((m) => m[1]!).filter(Boolean));
  }
  return out;
}

async function waitDrained(config: ResolvedConfig, stored?: number, timeoutMs = 30_000): Promise<void> {
  await waitFor(
    'every shard idle',
    async () => {
      const st = await pipelineStatus(redis, config);
      return isIdle(st) && (stored === undefined || st.stored === stored);
    },
    timeoutMs,
    100,
  );
}

test(`${SHARDS} shards: every record stored exactly once, shards spread over the masters, one blocking reader per shard on its master`, async () => {
  const { pipeline, masterOf } = await spreadPipeline();
  const config = clusterConfig(pipeline);
  const shards = configShards(config);
  // CLUSTER KEYSLOT agrees with the slot the spread was computed from.
  const probe = cluster.node(cluster.livePorts()[0]!);
  for (const k of shards.all) assert.is(await probe.call('CLUSTER', 'KEYSLOT', k.stream('in')), keySlot(k.tag));
  probe.disconnect();
  const N = 1200;
  const workers = startWorkers(config);
  try {
    const summary = await produce(redis, Readable.from([Array.from({ length: N }, (_, i) => JSON.stringify(record(i))).join('\n')]), {
      stream: shards.all[0]!.stream('in'),
      streamFor: (k) => shards.keysFor(k).stream('in'),
      source: 'test',
      maxRecordBytes: 65536,
      batchSize: 100,
    });
    assert.is(summary.produced, N);
    await waitDrained(config, N);

    // Connections: per worker, one reader per shard, each on its shard's master and nowhere else,
    // plus the command client's one connection per master it sends to (the masters of its shards).
    const names = await clientNames();
    const prefix = `preprocess:${consumerName(hostname(), process.pid, 0)}`;
    const where = (name: string) => [...names].flatMap(([port, ns]) => ns.filter((n) => n === name).map(() => port));
    for (let i = 0; i < SHARDS; i++) assert.equal(where(`${prefix}:read:${i}`), [masterOf[i]], `reader of shard ${i}`);
    assert.equal(where(`${prefix}:cmd`).sort(), [...new Set(masterOf)].sort(), 'command connections: one per master of its shards');
    const budget = [...names.values()].flat().filter((n) => n.startsWith(`${prefix}:`)).length;
    assert.is(budget, SHARDS + new Set(masterOf).size);
  } finally {
    await stopAll(workers);
  }
  const status = await pipelineStatus(redis, config);
  assert.is(status.stored, N);
  assert.is(status.dlq, 0);
  assert.ok(
    status.shards!.every((s) => s.stored > 0),
    `every shard stores products: ${status.shards!.map((s) => s.stored).join(',')}`,
  );
  assert.ok(new Set(masterOf).size >= 2, 'the shards live on at least two masters');
  const copies = await Promise.all(Array.from({ length: N }, (_, i) => redis.hget(shards.keysFor(`r${i}`).product(`r${i}`), 'copies')));
  assert.is(copies.filter((c) => c === '1').length, N, 'each product stored once, under its shard');
});

test('the CLI on a cluster: `pipeline up` runs every stage, `produce` shards the input, `status` and `dlq list` read every shard', async () => {
  const { pipeline } = await spreadPipeline();
  const file = writeConfig(pipeline, FAST, { shards: SHARDS });
  const config = clusterConfig(pipeline);
  const shards = configShards(config);
  const up = cli(['--config', file, 'up'], cluster.url);
  const rejects = join(tmpdir(), `${pipeline}-rejects.jsonl`);
  try {
    const N = 300;
    const p = cli(['--config', file, 'produce', '--rejects', rejects], cluster.url, {
      input: Array.from({ length: N }, (_, i) => JSON.stringify(record(i))).join('\n'),
    });
    assert.is(await exited(p), 0, p.output());
    assert.match(p.output(), /"produced":300/);
    // An entry that is no envelope, added to shard 2: the DLQ of shard 2 gets it.
    await redis.xadd(shards.shard(2).stream('in'), '*', 'k', 'junk', 'e', 'not msgpack');
    await waitDrained(config, N, 60_000);
    const status = cli(['--config', file, 'status', '--json'], cluster.url);
    assert.is(await exited(status), 0, status.output());
    const st = JSON.parse(status.output().trim().split('\n').pop()!) as { stored: number; dlq: number; shards: { stored: number; dlq: number }[] };
    assert.equal([st.stored, st.dlq, st.shards.length, st.shards[2]!.dlq], [N, 1, SHARDS, 1]);
    const table = cli(['--config', file, 'status'], cluster.url);
    assert.is(await exited(table), 0);
    assert.match(table.output(), new RegExp(`shard 3 \\{${pipeline}:3\\} slot ${keySlot(`${pipeline}:3`)} on 127\\.0\\.0\\.1:\\d+`));
    const dlq = cli(['--config', file, 'dlq', 'list'], cluster.url);
    assert.is(await exited(dlq), 0, dlq.output());
    assert.match(dlq.output(), /^2\/\d+-\d+ {2}preprocess {2}undecodable/m);
  } finally {
    up.kill('SIGTERM');
    assert.is(await exited(up), 0, up.output());
    rmSync(rejects, { force: true });
  }
});

interface FailoverResult {
  acked: number;
  lost: number;
  duplicated: number;
  /** Records acknowledged on the victim's shards from the replica's pause to the master's death. */
  ackedInWindow: number;
  /** Of those, acknowledged once the replica's link was surely cut (100 ms after CLIENT KILL). */
  ackedWhileCut: number;
  /** Records of the victim's shards acknowledged after the promotion: stored means their readers resumed on the new master. */
  ackedAfterOnVictim: number;
  storedAfterOnVictim: number;
  failoverMs: number;
  victimShards: number[];
  /** ProducerGapError messages: the producer found records of its run missing after the failover, and resumed. */
  gaps: string[];
}

/**
 * Records flow into a 4-shard pipeline while the master of shard 0 dies. Asynchronous replication
 * on loopback takes microseconds, so the window in which a write is acknowledged by the master but
 * not yet on its replica is opened on purpose, as a slow link would: the replica is paused
 * (SIGSTOP) and its link dropped (CLIENT KILL TYPE replica on the master), writes go on for
 * `windowMs`, then the master is SIGKILLed and the replica resumed; it is promoted after
 * cluster-node-timeout. The killed node is restarted (it rejoins as a replica). Then: every record
 * the producer was told is stored, stored? and stored once?
 */
async function failover(waitReplicas: number, windowMs = 400): Promise<FailoverResult> {
  await cluster.waitHealthy();
  const { pipeline, masterOf } = await spreadPipeline();
  const config = clusterConfig(pipeline);
  const shards = configShards(config);
  const victim = masterOf[0]!;
  const victimShards = masterOf.flatMap((m, i) => (m === victim ? [i] : []));
  const workers = startWorkers(config);
  const producer = createClient(cluster.url, { connectionName: 'test:producer', maxRetriesPerRequest: null });
  producer.on('error', () => {});
  const acked = new Map<string, number>();
  let stop = false;
  let n = 0;
  /** The records from the first, as each run reads them: a resumed run reads the same input again, then new records until stopped. */
  async function* lines(): AsyncGenerator<string> {
    for (let i = 0; !stop || i < n;) {
      yield Array.from({ length: 50 }, () => JSON.stringify(record(i++))).join('\n') + '\n';
      n = Math.max(n, i);
      await sleep(5);
    }
  }
  const options = {
    stream: shards.all[0]!.stream('in'),
    streamFor: (k: string) => shards.keysFor(k).stream('in'),
    source: 'failover',
    maxRecordBytes: 65536,
    batchSize: 50,
    waitReplicas,
    waitTimeoutMs: 200,
    retryForMs: 60_000,
    runId: `failover-${pipeline}`,
    onBatch: (ks: readonly string[]) => {
      const t = Date.now();
      for (const k of ks) if (!acked.has(k)) acked.set(k, t); // when first acknowledged: a resume sends lost ones again
    },
  };
  // A run that finds records of its own missing (ProducerGapError) is resumed with the same run id, as
  // its error says to: each shard's records skip to what that shard's state counts, so the lost ones go in again.
  const gaps: string[] = [];
  const producing = (async () => {
    for (;;) {
      try {
        return await produce(producer, Readable.from(lines()), options);
      } catch (err) {
        if (!(err instanceof ProducerGapError)) throw err;
        gaps.push(err.message);
      }
    }
  })();
  let result: FailoverResult;
  try {
    await waitFor('records flowing', () => acked.size >= 500, 20_000);
    const replica = await cluster.replicaOf(victim);
    const windowStart = Date.now();
    cluster.signal(replica, 'SIGSTOP');
    const admin = cluster.node(victim);
    await admin.client('KILL', 'TYPE', 'replica');
    admin.disconnect();
    const cutAt = Date.now() + 100;
    await sleep(windowMs);
    await cluster.kill(victim);
    const killedAt = Date.now();
    cluster.signal(replica, 'SIGCONT');
    const witness = cluster.livePorts().find((p) => p !== replica)!;
    await cluster.waitFailover('the replica promoted', async () => (await cluster.topology(witness)).find((x) => x.port === replica)?.role === 'master');
    const promotedAt = Date.now();
    await cluster.restart(victim);
    await cluster.waitHealthy();
    await waitFor(
      'records flowing again on the failed-over shards',
      () => [...acked].some(([k, t]) => t > promotedAt && victimShards.includes(shards.shardOf(k))),
      30_000,
    );
    await sleep(300);
    stop = true;
    await producing;
    await waitDrained(config, undefined, 60_000);

    // The reader of a failed-over shard now reads from the promoted replica.
    const names = await clientNames();
    const prefix = `store:${consumerName(hostname(), process.pid, 0)}`;
    assert.ok(names.get(replica)!.includes(`${prefix}:read:${victimShards[0]}`), 'the reader moved to the new master');

    const keys = [...acked.keys()];
    const copies = await Promise.all(keys.map((k) => redis.hget(shards.keysFor(k).product(k), 'copies')));
    const onVictim = (k: string) => victimShards.includes(shards.shardOf(k));
    const after = keys.map((k, i) => ({ k, c: copies[i] })).filter(({ k }) => acked.get(k)! > promotedAt && onVictim(k));
    result = {
      acked: keys.length,
      lost: copies.filter((c) => c === null).length,
      duplicated: copies.filter((c) => c !== null && c !== '1').length,
      ackedInWindow: keys.filter((k) => onVictim(k) && acked.get(k)! >= windowStart && acked.get(k)! <= killedAt).length,
      ackedWhileCut: keys.filter((k) => onVictim(k) && acked.get(k)! >= cutAt && acked.get(k)! <= killedAt).length,
      ackedAfterOnVictim: after.length,
      storedAfterOnVictim: after.filter(({ c }) => c === '1').length,
      failoverMs: promotedAt - killedAt,
      victimShards,
      gaps,
    };
    assert.is((await pipelineStatus(redis, config)).dlq, 0, 'nothing dead-lettered');
  } finally {
    stop = true;
    await producing.catch(() => undefined);
    await stopAll(workers);
    producer.disconnect();
  }
  console.log(`failover, waitReplicas ${waitReplicas}: ${JSON.stringify(result)}`);
  return result;
}

test('a master dies mid-run without WAIT: the producer finds the acknowledged records the failover lost (ProducerGapError) and its resume puts them back; duplicates, if any, stay within that window', async () => {
  const r = await failover(0);
  // Without WAIT the window's writes are not durable: the failover loses them, and with them the
  // run's state on that shard. The producer's next batch there finds its state counting fewer
  // records than it sent and stops; resumed with the same run id, it adds them again (before, it
  // went on and they were lost). Under load a few of the window's records have been stored twice
  // (measured: 0-64 of a 300-700-record window); outside the window nothing may be duplicated.
  assert.ok(r.ackedWhileCut > 0, 'the producer was told records were stored while the replica was cut off');
  assert.ok(r.gaps.length > 0, 'the loss was found');
  assert.match(r.gaps[0]!, /Redis has \d+ of the \d+ records this run had added before this batch/);
  assert.is(r.lost, 0, 'the resume put back every acknowledged record the failover had lost');
  assert.ok(r.duplicated <= r.ackedInWindow + 50, `duplicated ${r.duplicated}: more than the window (${r.ackedInWindow}) can explain`);
  assert.ok(r.ackedAfterOnVictim > 0 && r.storedAfterOnVictim === r.ackedAfterOnVictim, 'the failed-over shards resumed');
});

test('a master dies mid-run with WAIT 1 per batch: nothing acknowledged is lost, nothing duplicated', async () => {
  const r = await failover(1);
  assert.equal(r.gaps, [], 'nothing of the run was lost');
  assert.is(r.ackedWhileCut, 0, 'no batch of the cut-off master was acknowledged while its replica could not have it');
  assert.is(r.lost, 0, 'every acknowledged record is stored');
  assert.is(r.duplicated, 0, 'and stored once');
  assert.ok(r.ackedAfterOnVictim > 0 && r.storedAfterOnVictim === r.ackedAfterOnVictim, 'the failed-over shards resumed');
});

test.after(async () => {
  redis.disconnect();
  await cluster.close();
});
test.run();
