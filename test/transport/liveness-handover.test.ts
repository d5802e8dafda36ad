/**
 * Workers outside `pipeline up` (Kubernetes, docker compose): a consumer killed hard leaves its
 * entries pending with no supervisor to hand them over. A live sibling's reclaimer pass finds its
 * alive key gone while its registration stays (lib/worker/liveness-handover.ts) and hands the
 * entries over through the supervisor's path (hand-over-dead-1.lua, then claim-3.lua's fence), within
 * `aliveTtlMs` and `livenessHandoverMs`, not after `claimMinIdleMs`: also with every default option,
 * where the stall marker outlives `claimMinIdleMs`. A consumer only stopped (SIGSTOP: its alive key
 * lapses too) loses nothing and writes nothing twice when it wakes up.
 * On a sharded pipeline: the records go to shard 1's streams.
 */
import { writeFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { STAGE_DEFAULTS } from '../../lib/config/defaults.js';
import type { StageOptions } from '../../lib/config/types.js';
import { produce } from '../../lib/producer/producer.js';
import { consumerName, Keys } from '../../lib/redis/keys.js';
import { shardOf } from '../../lib/redis/shard.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { memoryMetrics } from '../../lib/observe/metrics.js';
import { handOverLapsed } from '../../lib/worker/liveness-handover.js';
import { cli, exited, FAST, rulesOnlyConfig, stageThenStore } from '../helpers/pipeline.js';
import { events } from '../helpers/processes.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';
import { slowStageModule } from '../helpers/slow-stage.js';

const { server, redis } = await redisForFile(test);

const BATCH = 5;
const LATER = 15;
const SLOW_MS = 100;
const STAGE = {
  ...FAST,
  batchSize: BATCH,
  blockMs: 50,
  /** Far beyond every wait below: only a hand-over explains a prompt reclaim. */
  claimMinIdleMs: 60_000,
  claimIntervalMs: 200,
  /** A hand-over that counted a delivery would dead-letter the victim's entries (kill 1, hand-over 2, run 3). */
  maxDeliveries: 2,
  stallTimeoutMs: 1_000,
  watchdogIntervalMs: 200,
  aliveTtlMs: 600,
  /** A lapsed consumer is looked for every 500 ms, not every 5 s: the defaults' wait is the next test's. */
  livenessHandoverMs: 500,
};
/** What a worker process needs from spawn to `worker.started` (tsx, on a shared 2-core machine). */
const START_MS = 30_000;

type PendingRow = [string, string, number, number];
const pendingOf = async (stream: string, group = 'slow') => (await redis.xpending(stream, group, '-', '+', 1000)) as PendingRow[];
/** `n` product ids that shard 1 of 2 owns (lib/redis/shard.ts): their records go to its streams, as a sharded producer would put them. */
function shardOneIds(n: number, prefix: string): string[] {
  const ids: string[] = [];
  for (let i = 0; ids.length < n; i++) if (shardOf(`${prefix}${i}`, 2) === 1) ids.push(`${prefix}${i}`);
  return ids;
}
const records = (ids: string[]) => ids.map((id, i) => JSON.stringify({ id, title: `item ${i}`, mpn: `MX-${i}` })).join('\n');

/** Two `pipeline worker slow,store` processes with stage options `options`; the one holding the first batch gets `signal`. */
async function scenario(signal: 'SIGKILL' | 'SIGSTOP', options: Partial<StageOptions> & { batchSize: number } = STAGE): Promise<void> {
  const o = { ...STAGE_DEFAULTS, ...options };
  const pipeline = randomPipeline('lh');
  const shard = new Keys(pipeline, 1);
  const marker = join(tmpdir(), `${pipeline}-held`);
  const release = join(tmpdir(), `${pipeline}-release`);
  const module = slowStageModule(marker, SLOW_MS, signal === 'SIGSTOP' ? release : undefined);
  const file = join(tmpdir(), `${pipeline}-config.json`);
  writeFileSync(file, JSON.stringify({ ...stageThenStore(pipeline, { name: 'slow', kind: `module:${module}` }, options), shards: 2 }));
  const [first, later] = [shardOneIds(BATCH, 'a'), shardOneIds(LATER, 'b')];
  const workers = [0, 1].map(() => cli(['--config', file, 'worker', 'slow,store'], server.url));
  try {
    await waitFor('both workers reading', () => workers.every((w) => events(w.output(), 'worker.started').some((e) => e.stage === 'slow')), START_MS);
    await produce(redis, Readable.from([records(first)]), { stream: shard.stream('in'), source: 'test', maxRecordBytes: 65536 });
    await waitFor('a worker holds the batch in its stage', () => existsSync(marker), 10_000);
    const pid = Number(readFileSync(marker, 'utf8'));
    const victim = workers.find((w) => w.pid === pid);
    assert.ok(victim, `the holder ${pid} is one of the two workers`);
    const survivor = workers.find((w) => w !== victim)!;
    const dead = consumerName(hostname(), pid, 0);
    await waitFor('its batch pending', async () => (await pendingOf(shard.stream('in'))).filter((r) => r[1] === dead).length === BATCH);
    // A process killed before its first beat (one watchdogIntervalMs after its start) never wrote an alive key: it waits out claimMinIdleMs.
    // The stall marker is written in the same call (lib/lua/liveness-3.lua) while the loop progresses.
    await waitFor('its first beat', async () => (await redis.exists(shard.liveness('slow', dead))) === 1, 5_000);
    process.kill(pid, signal);
    const at = Date.now();
    await produce(redis, Readable.from([records(later)]), { stream: shard.stream('in'), source: 'test', maxRecordBytes: 65536 });

    // The alive key lapses within aliveTtlMs of the signal (the entries are idle that long then), the
    // next check finds it (every livenessHandoverMs, on a pass every claimIntervalMs), the same pass
    // claims; 2 s of slack for the loaded machine. With the defaults: 3 + 5 + 2 s.
    const handOverMs = o.aliveTtlMs + Math.max(o.livenessHandoverMs, o.claimIntervalMs) + 2_000;
    assert.ok(handOverMs < o.claimMinIdleMs / 2);
    await waitFor('the hand-over', () => events(survivor.output(), 'reclaim.handed_over').length > 0, handOverMs);
    // Then the 5 run one by one (counted deliveries), the 15 in 3 batches.
    await waitFor('every record stored', async () => (await redis.scard(shard.products)) === BATCH + LATER, (BATCH + LATER / BATCH) * SLOW_MS + 5_000);
    assert.ok(Date.now() - at < o.claimMinIdleMs / 2, `well before claimMinIdleMs: ${Date.now() - at} ms`);
    const handed = events(survivor.output(), 'reclaim.handed_over');
    assert.equal(
      handed.map((e) => [e.stage, e.lapsed, e.entries, e.stream]),
      [['slow', dead, BATCH, shard.stream('in')]],
      "the survivor handed the victim's entries over, once",
    );
    const claimed = events(survivor.output(), 'reclaim.claimed').reduce((n, e) => n + Number(e.count), 0);
    assert.is(claimed, BATCH, 'and claimed them (claim-3.lua)');

    if (signal === 'SIGSTOP') {
      // The stalled process wakes up and hands its batch off late: the fence moved, each message is
      // checked, none is owned any more, nothing is written again.
      writeFileSync(release, '');
      process.kill(pid, 'SIGCONT');
      await waitFor('its late hand-off', () => events(victim!.output(), 'handoff.already_acked').some((e) => e.stage === 'slow'), 10_000);
      const late = events(victim!.output(), 'handoff.already_acked').find((e) => e.stage === 'slow')!;
      assert.is(late.count, BATCH, 'each of its messages found handled by the survivor');
      assert.is(await redis.scard(shard.products), BATCH + LATER);
    }
    const copies = await Promise.all([...first, ...later].map((id) => redis.hget(shard.product(id), 'copies')));
    assert.equal(
      copies.filter((c) => c !== '1'),
      [],
      'each product written by one store entry',
    );
    assert.is(await redis.xlen(shard.dlq), 0, 'delivery counts kept: none past maxDeliveries');
    assert.is(await redis.scard(new Keys(pipeline, 0).products), 0, 'shard 0 untouched');
    await waitFor('nothing pending', async () => (await pendingOf(shard.stream('in'))).length === 0, 5_000);
  } finally {
    // Killed by a signal, a child's exitCode stays null: wait for its 'exit' only while it runs.
    await Promise.all(workers.map((w) => (w.exitCode !== null || w.signalCode !== null ? undefined : (w.kill('SIGKILL'), exited(w)))));
    for (const f of [file, module, marker, release]) rmSync(f, { force: true });
  }
}

test('outside pipeline up: a worker SIGKILLed mid-batch has its entries handed over by a live sibling within aliveTtlMs, each stored once', async () => {
  await scenario('SIGKILL');
});

test('with every default option (claimMinIdleMs, livenessHandoverMs, the watchdog, aliveTtlMs): the survivor takes the entries of a SIGKILLed worker well before claimMinIdleMs', async () => {
  // Only the batch size (the slow stage's held batch) differs from the defaults.
  await scenario('SIGKILL', { batchSize: BATCH });
});

test('a worker stopped past its aliveTtlMs (SIGSTOP) loses its batch to a sibling, and its late hand-off writes nothing twice', async () => {
  await scenario('SIGSTOP');
});

test("only a registered consumer whose alive key is gone is handed over, only its entries idle past aliveTtlMs; a live one whose stall marker lapsed keeps its entries; an older release's waits out claimMinIdleMs", async () => {
  const config = rulesOnlyConfig(server.url, randomPipeline('lh'), { ...STAGE });
  const stage = config.stages.find((s) => s.name === 'preprocess')!;
  const keys = new Keys(config.pipeline);
  const stream = keys.stream(stage.input);
  await redis.xgroup('CREATE', stream, stage.name, '0', 'MKSTREAM');
  await produce(redis, Readable.from([records(shardOneIds(8, 'u'))]), { stream, source: 'test', maxRecordBytes: 65536 });
  const read = async (consumer: string, n: number, idleMs: number) => {
    const reply = (await redis.xreadgroup('GROUP', stage.name, consumer, 'COUNT', n, 'STREAMS', stream, '>')) as [string, [string, string[]][]][];
    const ids = reply[0]![1].map((e) => e[0]);
    // As if read idleMs ago (the owner and the delivery count stay).
    if (idleMs > 0) await redis.xclaim(stream, stage.name, consumer, 0, ...ids, 'IDLE', idleMs, 'JUSTID');
    return ids;
  };
  const old = await read('old-1-0', 2, 10_000); // an older release: no marker, no registration
  const alive = await read('alive-2-0', 2, 10_000); // alive key present, no stall marker (a long batch): a live process
  const lapsedOld = await read('gone-3-0', 2, 10_000); // registered, marker gone: handed over
  const lapsedNew = await read('gone-3-0', 2, 0); // read under that name since its last beat: left alone
  await redis.set(keys.livenessAlive(stage.name, 'alive-2-0'), '1', 'PX', 60_000);
  await redis.set(keys.liveness(stage.name, 'gone-3-0'), '{}', 'PX', 60_000); // its stall marker does not count
  for (const c of ['alive-2-0', 'gone-3-0']) await redis.set(keys.livenessRegistration(stage.name, c), '1', 'PX', 60_000);
  const metrics = memoryMetrics();
  const n = await handOverLapsed(redis, stream, { stage, keys, consumer: 'me-4-0', logger: silentLogger, metrics });
  assert.is(n, 2);
  const rows = new Map((await pendingOf(stream, stage.name)).map((r) => [r[0], r]));
  for (const id of lapsedOld) assert.ok(rows.get(id)![2] >= stage.claimMinIdleMs, `${id}: claimable now`);
  for (const id of [...old, ...alive, ...lapsedNew]) assert.ok(rows.get(id)![2] < stage.claimMinIdleMs, `${id}: left alone`);
  assert.equal(
    [...rows.values()].map((r) => r[3]),
    [1, 1, 1, 1, 1, 1, 1, 1],
    'no delivery counted',
  );
  assert.equal(
    metrics.records.filter((r) => r.name === 'reclaim.handed_over').map((r) => [r.value, r.tags.stage]),
    [[2, stage.name]],
  );
});

test.run();
