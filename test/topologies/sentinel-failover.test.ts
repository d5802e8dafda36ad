/**
 * A pipeline on a Redis behind Sentinel (test/helpers/sentinel.ts: a master, a replica and one
 * sentinel, quorum 1, real processes) reached only through a `redis+sentinel://` URL: rules-only
 * workers in-process and `pipeline produce --wait-replicas 1` as a CLI child process. The master is
 * failed over mid-run, first in place (`SENTINEL FAILOVER`: the old master stays up as a replica,
 * the sentinel kills its clients, a write there answers READONLY), then by SIGKILL (the replica
 * promoted after `down-after-milliseconds`; the killed one comes back as the new master's replica,
 * so the producer's WAIT can be met again). Every client (the workers' blocking readers and command
 * connections, the producer's) finds the promoted master through the sentinel. Every record the
 * producer had acknowledged is stored once, nothing is dead-lettered, and the promoted master holds
 * the workers' reader connections. Before, REDIS_URL refused the form ("expected redis://, ...").
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isIdle, pipelineStatus } from '../../lib/ops/inspect.js';
import { configShards } from '../../lib/redis/shard.js';
import { createClient } from '../../lib/redis/url.js';
import { cli, exited, FAST, rulesOnlyConfig, startWorkers, stopAll, writeConfig } from '../helpers/pipeline.js';
import { randomPipeline, waitFor } from '../helpers/redis.js';
import { SentinelSet } from '../helpers/sentinel.js';

/** Records per line group written to the producer, and the pause between groups: a steady flow. */
const GROUP = 10;
const EVERY_MS = 100;
/** Records stored before the kill, and after the promotion before the input ends. */
const BEFORE = 60;
const AFTER = 40;
/**
 * After an in-place failover, every reader has left the old master within this (the +switch-master
 * watch, lib/redis/sentinel-watch.ts). The sentinel itself converts the old master only after 8 s or
 * more (it waits for the new configuration to spread, then its next INFO): clients left there
 * until then would go on reading and writing on a master about to lose their writes.
 */
const SWITCH_MS = 3_000;

const set = await new SentinelSet({ downAfterMs: 1000, failoverTimeoutMs: 3000 }).start();

/**
 * Feed `produce --wait-replicas 1` a steady flow through the sentinel URL while the workers run;
 * once BEFORE records are stored, `failOver(old master)` (returns the promoted master's port); then
 * AFTER more records stored, the input ended, and every record stored once, nothing dead-lettered,
 * the workers' readers on the promoted master and none on the old one.
 */
async function runThrough(label: string, failOver: (old: number, readers: number) => Promise<number>): Promise<void> {
  const pipeline = randomPipeline('sn');
  const configFile = writeConfig(pipeline, FAST);
  const config = rulesOnlyConfig(set.url, pipeline);
  const workers = startWorkers(config);
  const redis = createClient(set.url, { connectionName: 'test:check', maxRetriesPerRequest: null });
  redis.on('error', () => {});
  const producer = cli(['--config', configFile, 'produce', '-', '--wait-replicas', '1', '--retry-for', '30000', '--batch', String(GROUP)], set.url, {
    keepStdin: true,
  });
  producer.stdin!.on('error', () => {});
  let n = 0;
  const feed = setInterval(() => {
    producer.stdin!.write(Array.from({ length: GROUP }, () => JSON.stringify({ id: `s${n++}`, title: `Product ${n}` })).join('\n') + '\n');
  }, EVERY_MS);
  const stored = async () => (await pipelineStatus(redis, config)).stored;
  try {
    await waitFor('records stored before the failover', async () => (await stored()) >= BEFORE, 20_000, 50);
    const old = await set.masterPort();
    const startedAt = Date.now();
    const promoted = await failOver(old, config.stages.length);
    const failoverMs = Date.now() - startedAt;
    const atPromotion = await stored();
    await waitFor('records stored on the promoted master', async () => (await stored()) >= atPromotion + AFTER, 30_000, 50);
    clearInterval(feed);
    producer.stdin!.end();
    const code = await exited(producer);
    assert.is(code, 0, `produce exits 0: ${producer.output().slice(-800)}`);
    assert.match(producer.output(), new RegExp(`"produced":${n}\\b`), `produce acknowledged all ${n} records`);
    await waitFor(
      'every record stored',
      async () => {
        const st = await pipelineStatus(redis, config);
        return isIdle(st) && st.stored >= n;
      },
      30_000,
      100,
    );
    const st = await pipelineStatus(redis, config);
    assert.is(st.stored, n, 'stored = produced');
    assert.is(st.dlq, 0, 'nothing dead-lettered');
    const shards = configShards(config);
    const copies = await Promise.all(Array.from({ length: n }, (_, i) => redis.hget(shards.keysFor(`s${i}`).product(`s${i}`), 'copies')));
    assert.is(copies.filter((c) => c === '1').length, n, 'each record stored once');
    // The workers' blocking readers are on the promoted master, none left on the demoted one.
    assert.ok((await readersOn(promoted)) >= config.stages.length, 'every stage reads on the promoted master');
    assert.is(await readersOn(old), 0, 'no reader left on the demoted master');
    console.log(`sentinel ${label}: ${JSON.stringify({ failoverMs, records: n, old, promoted })}`);
  } finally {
    clearInterval(feed);
    if (producer.exitCode === null) producer.kill('SIGKILL');
    await stopAll(workers);
    redis.disconnect();
  }
}

/** How many of the workers' blocking reader connections (`...:read`) the server at `port` holds. */
async function readersOn(port: number): Promise<number> {
  const c = createClient(`redis://127.0.0.1:${port}`, { maxRetriesPerRequest: 1 });
  c.on('error', () => {});
  try {
    const list = String(await c.client('LIST')).split('\n');
    return list.filter((l) => /name=\S*:read\b/.test(l)).length;
  } finally {
    c.disconnect();
  }
}

test('SENTINEL FAILOVER mid-run (the master demoted in place, alive): every client leaves it for the promoted replica, every record stored once', async () => {
  await runThrough('failover', async (old, readers) => {
    await set.failover();
    const promoted = await set.waitPromoted(old);
    const at = Date.now();
    await waitFor(
      'every reader moved to the promoted master',
      async () => (await readersOn(old)) === 0 && (await readersOn(promoted)) >= readers,
      SWITCH_MS,
      50,
    );
    assert.is(await set.role(old), 'master', `the sentinel has not converted the old master yet (${Date.now() - at} ms): the clients moved on their own`);
    // Convert it now as the sentinel would, rather than wait for it: the producer's WAIT 1 needs a replica.
    await set.demote(old, promoted);
    return promoted;
  });
});

test('SIGKILL the master behind Sentinel mid-run: workers and produce --wait-replicas 1 follow the promoted replica, every record stored once', async () => {
  await runThrough('kill', async (old) => {
    await set.kill(old);
    const promoted = await set.waitPromoted(old);
    // The old master back, empty, as the new one's replica: the producer's WAIT 1 can be met again.
    // With replica-priority 0 until it has synced: a second failover (the sentinel flagging the new
    // master down, however briefly) must not promote it empty (test/topologies/sentinel-rejoin.test.ts).
    await set.rejoin(old, promoted);
    return promoted;
  });
});

test.after(async () => {
  await set.close();
});
test.run();
