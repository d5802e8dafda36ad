/**
 * The hand-over of a dead worker's entries by a live sibling (lib/worker/liveness-handover.ts) on a
 * real Redis Cluster: 3 masters (no replicas: no failover here), a pipeline of 3 shards whose hash
 * tags land on the 3 masters, two `pipeline worker slow,store` processes. The alive keys, the
 * registrations, the groups and the claim fence of a shard carry its tag, so every script call
 * (liveness-3.lua, hand-over-dead-1.lua, claim-3.lua) stays on one slot. The first worker holds a
 * batch of every shard (its slow stage holds the first batch, the others queue behind it), the
 * second starts, the first is SIGKILLed: the second hands its entries over on every shard within
 * `aliveTtlMs` and `livenessHandoverMs`, far before `claimMinIdleMs`, and every record is stored once.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { STAGE_DEFAULTS } from '../../lib/config/defaults.js';
import { produce } from '../../lib/producer/producer.js';
import { consumerName } from '../../lib/redis/keys.js';
import { configShards, shardOf, type Shards } from '../../lib/redis/shard.js';
import { createClient } from '../../lib/redis/url.js';
import { RedisCluster } from '../helpers/cluster.js';
import { pipelineWhere } from '../helpers/cluster-pipelines.js';
import { cli, exited, FAST, stageThenStore } from '../helpers/pipeline.js';
import { events, stopSupervisor } from '../helpers/processes.js';
import { waitFor } from '../helpers/redis.js';
import { slowStageModule } from '../helpers/slow-stage.js';

const SHARDS = 3;
const BATCH = 5;
const LATER = 30;
const SLOW_MS = 100;
const STAGE = {
  ...FAST,
  batchSize: BATCH,
  blockMs: 50,
  /** Far beyond every wait below: only a hand-over explains a prompt reclaim. */
  claimMinIdleMs: 60_000,
  claimIntervalMs: 200,
  livenessHandoverMs: 1_000,
  /** A hand-over that counted a delivery would dead-letter the victim's entries (kill 1, hand-over 2, run 3). */
  maxDeliveries: 2,
  stallTimeoutMs: 1_000,
  watchdogIntervalMs: 200,
  aliveTtlMs: 600,
};
/** What a worker process needs from spawn to `worker.started` (tsx, on a shared 2-core machine). */
const START_MS = 30_000;

const cluster = await new RedisCluster({ masters: 3, replicas: 0 }).start();
const redis = createClient(cluster.url, { connectionName: 'test:check', maxRetriesPerRequest: null });
redis.on('error', () => {});

type PendingRow = [string, string, number, number];
const pendingOf = async (stream: string) => (await redis.xpending(stream, 'slow', '-', '+', 1000)) as PendingRow[];
/** `n` record ids of shard `shard` of SHARDS (lib/redis/shard.ts). */
function idsOf(shard: number, n: number, prefix: string): string[] {
  const ids: string[] = [];
  for (let i = 0; ids.length < n; i++) if (shardOf(`${prefix}${i}`, SHARDS) === shard) ids.push(`${prefix}${i}`);
  return ids;
}
const records = (ids: string[]) => ids.map((id, i) => JSON.stringify({ id, title: `item ${i}`, mpn: `MX-${i}` })).join('\n');
/** Produce records to the shards their ids belong to, as a sharded producer does. */
const send = (shards: Shards, ids: string[]) =>
  produce(redis, Readable.from([records(ids)]), {
    stream: shards.all[0]!.stream('in'),
    streamFor: (k) => shards.keysFor(k).stream('in'),
    source: 'test',
    maxRecordBytes: 65536,
  });
const stored = async (shards: Shards) => (await Promise.all(shards.all.map((k) => redis.scard(k.products)))).reduce((a, b) => a + b, 0);

/** Every shard stores products, dead-letters none, had its claim fence moved; each product was written by one store entry. */
async function storedOnceEverywhere(shards: Shards, ids: string[]): Promise<void> {
  for (const [i, k] of shards.all.entries()) {
    assert.ok((await redis.scard(k.products)) > 0, `shard ${i} stores products`);
    assert.is(await redis.xlen(k.dlq), 0, `shard ${i}: nothing dead-lettered`);
    assert.ok((await redis.get(k.fence('slow'))) !== null, `shard ${i}: a claim moved its fence`);
  }
  const copies = await Promise.all(ids.map((id) => redis.hget(shards.keysFor(id).product(id), 'copies')));
  assert.equal(
    copies.filter((c) => c !== '1'),
    [],
    'each product written by one store entry',
  );
}

test('on a 3-master cluster: a worker SIGKILLed holding entries of every shard has them handed over by its sibling on each shard, well before claimMinIdleMs; each record stored once, none dead-lettered', async () => {
  const o = { ...STAGE_DEFAULTS, ...STAGE };
  const { pipeline } = await pipelineWhere(cluster, SHARDS, 'clh', (m) => new Set(m).size === SHARDS);
  const shards = configShards({ pipeline, shards: SHARDS });
  const inputs = shards.all.map((k) => k.stream('in'));
  const marker = join(tmpdir(), `${pipeline}-held`);
  const module = slowStageModule(marker, SLOW_MS);
  const file = join(tmpdir(), `${pipeline}-config.json`);
  writeFileSync(file, JSON.stringify({ ...stageThenStore(pipeline, { name: 'slow', kind: `module:${module}` }, STAGE), shards: SHARDS }));
  const first = shards.all.flatMap((_, i) => idsOf(i, BATCH, 'a'));
  const later = Array.from({ length: LATER }, (_, i) => `b${i}`);
  const victim = cli(['--config', file, 'worker', 'slow,store'], cluster.url);
  let survivor: ReturnType<typeof cli> | undefined;
  try {
    await waitFor('the first worker reading', () => events(victim.output(), 'worker.started').some((e) => e.stage === 'slow'), START_MS);
    const dead = consumerName(hostname(), victim.pid!, 0);
    await send(shards, first);
    // One batch in the stage at a time (its shards share it): the first is held, the others wait, read.
    await waitFor('it holds a batch of every shard', async () => {
      const rows = await Promise.all(inputs.map(pendingOf));
      return existsSync(marker) && rows.every((r) => r.filter((e) => e[1] === dead).length === BATCH);
    });
    await waitFor(
      'its beats on every shard',
      async () => (await Promise.all(shards.all.map((k) => redis.exists(k.livenessAlive('slow', dead))))).every((n) => n === 1),
      5_000,
    );
    survivor = cli(['--config', file, 'worker', 'slow,store'], cluster.url);
    await waitFor('the sibling reading', () => events(survivor!.output(), 'worker.started').some((e) => e.stage === 'slow'), START_MS);
    victim.kill('SIGKILL');
    const at = Date.now();
    await send(shards, later);

    // The alive keys lapse within aliveTtlMs, the next check finds them (every livenessHandoverMs, on
    // a pass every claimIntervalMs), the same pass claims; 3 s of slack for the loaded machine.
    const handOverMs = o.aliveTtlMs + Math.max(o.livenessHandoverMs, o.claimIntervalMs) + 3_000;
    assert.ok(handOverMs < o.claimMinIdleMs / 4);
    const handedShards = () => new Set(events(survivor!.output(), 'reclaim.handed_over').map((e) => e.stream)).size;
    await waitFor('the hand-over on every shard', () => handedShards() === SHARDS, handOverMs);
    const total = first.length + LATER;
    await waitFor('every record stored', async () => (await stored(shards)) === total, (first.length + LATER / BATCH) * SLOW_MS + 10_000);
    assert.ok(Date.now() - at < o.claimMinIdleMs / 2, `well before claimMinIdleMs: ${Date.now() - at} ms`);

    const handed = events(survivor.output(), 'reclaim.handed_over');
    assert.equal(
      handed.map((e) => [e.stage, e.lapsed, e.entries, e.stream]).sort(),
      inputs.map((s) => ['slow', dead, BATCH, s]).sort(),
      "the survivor handed the victim's entries over, once per shard",
    );
    const claimed = events(survivor.output(), 'reclaim.claimed').reduce((n, e) => n + Number(e.count), 0);
    assert.is(claimed, first.length, 'and claimed them (claim-3.lua)');
    await storedOnceEverywhere(shards, [...first, ...later]);
    await waitFor('nothing pending', async () => (await Promise.all(inputs.map(pendingOf))).every((r) => r.length === 0), 5_000);
  } finally {
    const running = [victim, survivor].filter((w) => w !== undefined && w.exitCode === null && w.signalCode === null);
    await Promise.all(running.map((w) => (w!.kill('SIGKILL'), exited(w!))));
    for (const f of [file, module, marker]) rmSync(f, { force: true });
  }
});

test('pipeline up on the cluster: its supervisor hands over the entries of a SIGKILLed worker on every shard; the restarted worker stores them well before claimMinIdleMs, each once', async () => {
  const { pipeline } = await pipelineWhere(cluster, SHARDS, 'cuh', (m) => new Set(m).size === SHARDS);
  const shards = configShards({ pipeline, shards: SHARDS });
  const inputs = shards.all.map((k) => k.stream('in'));
  const marker = join(tmpdir(), `${pipeline}-held`);
  const module = slowStageModule(marker, SLOW_MS);
  const file = join(tmpdir(), `${pipeline}-config.json`);
  // The liveness path off: only the supervisor's hand-over (lib/ops/dead-handover.ts) can explain a prompt reclaim.
  const stage = { ...STAGE, livenessHandoverMs: 0, claimIntervalMs: 20_000 };
  writeFileSync(
    file,
    JSON.stringify({ ...stageThenStore(pipeline, { name: 'slow', kind: `module:${module}` }, stage), shards: SHARDS, supervisor: { restartBaseMs: 300 } }),
  );
  const first = shards.all.flatMap((_, i) => idsOf(i, BATCH, 'a'));
  const later = Array.from({ length: LATER }, (_, i) => `b${i}`);
  const up = cli(['--config', file, 'up', '--no-autoscale'], cluster.url);
  try {
    await send(shards, first);
    await waitFor('a worker holds the first batch', () => existsSync(marker), START_MS);
    const pid = Number(readFileSync(marker, 'utf8'));
    const dead = consumerName(hostname(), pid, 0);
    await waitFor('it holds a batch of every shard', async () =>
      (await Promise.all(inputs.map(pendingOf))).every((r) => r.filter((e) => e[1] === dead).length === BATCH),
    );
    process.kill(pid, 'SIGKILL');
    const at = Date.now();
    await send(shards, later);
    await waitFor('the hand-over', () => events(up.output(), 'supervisor.handed_over').some((e) => e.pid === pid), 10_000);
    const handed = events(up.output(), 'supervisor.handed_over').find((e) => e.pid === pid)!;
    assert.equal([handed.stage, handed.consumer, handed.entries, handed.signal], ['slow', dead, first.length, 'SIGKILL'], "every shard's entries");
    await waitFor('the restarted worker reading', () => events(up.output(), 'worker.started').some((e) => e.stage === 'slow' && e.consumer !== dead), START_MS);
    await waitFor('every record stored', async () => (await stored(shards)) === first.length + LATER, (first.length + LATER / BATCH) * SLOW_MS + 10_000);
    assert.ok(Date.now() - at < stage.claimMinIdleMs / 2, `well before claimMinIdleMs: ${Date.now() - at} ms`);
    const claimed = events(up.output(), 'reclaim.claimed').reduce((n, e) => n + Number(e.count), 0);
    assert.is(claimed, first.length, 'the restarted worker claimed them (claim-3.lua)');
    await storedOnceEverywhere(shards, [...first, ...later]);
    await waitFor('nothing pending', async () => (await Promise.all(inputs.map(pendingOf))).every((r) => r.length === 0), 5_000);
  } finally {
    await stopSupervisor(up);
    for (const f of [file, module, marker]) rmSync(f, { force: true });
  }
});

test.after(async () => {
  redis.disconnect();
  await cluster.close();
});
test.run();
