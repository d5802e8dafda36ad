/**
 * A worker process the supervisor saw die hands its pending entries over at once
 * (lib/ops/dead-handover.ts, lib/lua/hand-over-dead-1.lua): they are made claimable, and the next
 * reclaimer pass (the restarted worker's first, at once) takes them through claim-3.lua, instead of
 * after `claimMinIdleMs` (60 s here). Delivery counts are kept; nothing of a live consumer, nor of
 * a new process given the same name, is touched.
 */
import { writeFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { handOverDead } from '../../lib/ops/dead-handover.js';
import { createLogger, silentLogger } from '../../lib/observe/logger.js';
import { memoryMetrics } from '../../lib/observe/metrics.js';
import { produce } from '../../lib/producer/producer.js';
import { consumerName, Keys } from '../../lib/redis/keys.js';
import { Worker } from '../../lib/worker/worker.js';
import { STAGES } from '../../stages/index.js';
import { cli, FAST, rulesOnlyConfig, stageThenStore } from '../helpers/pipeline.js';
import { events, stopSupervisor } from '../helpers/processes.js';
import { slowStageModule } from '../helpers/slow-stage.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);
/** The claim limit of both tests: far beyond every wait below, so only a hand-over explains a prompt reclaim. */
const CLAIM_MIN_IDLE_MS = 60_000;

type PendingRow = [string, string, number, number];
const pendingOf = async (stream: string, group: string) => (await redis.xpending(stream, group, '-', '+', 1000)) as PendingRow[];
const records = (n: number, prefix: string) =>
  Array.from({ length: n }, (_, i) => JSON.stringify({ id: `${prefix}${i}`, title: `item ${i}`, mpn: `MX-${i}` })).join('\n');

test("the dead consumer's entries are made claimable with their delivery counts; a live consumer's and a same-named newer reader's are not", async () => {
  const config = rulesOnlyConfig(server.url, randomPipeline(), { ...FAST, claimMinIdleMs: CLAIM_MIN_IDLE_MS, claimIntervalMs: 30_000, maxDeliveries: 3 });
  const keys = new Keys(config.pipeline);
  const stream = keys.stream('in');
  await redis.xgroup('CREATE', stream, 'preprocess', '0', 'MKSTREAM');
  await produce(redis, Readable.from([records(8, 'h')]), { stream, source: 'test', maxRecordBytes: 65536 });
  const DEAD_PID = 4_000_000 + Math.floor(Math.random() * 100_000); // above pid_max: no process of this host
  const dead = consumerName(hostname(), DEAD_PID, 0);
  const read = async (consumer: string, n: number) =>
    ((await redis.xreadgroup('GROUP', 'preprocess', consumer, 'COUNT', n, 'STREAMS', stream, '>')) as [string, [string, string[]][]][])[0]![1].map((e) => e[0]);
  const held = await read(dead, 3);
  const live = await read('other-host-1-0', 2);
  // The first of the dead one's entries had killed two workers before: 3 deliveries, maxDeliveries 3.
  await redis.xclaim(stream, 'preprocess', dead, 0, held[0]!, 'RETRYCOUNT', 3, 'JUSTID');
  const exitedAt = performance.now();
  // A new process given the dead one's pid (and so its name) reads after the exit: its entries are live.
  // 200 ms: a hand-over whose script runs up to 200 ms after it read the time since the exit still tells them apart (20 ms failed on a busy CI host).
  await waitFor('some ms since the exit', () => performance.now() - exitedAt >= 200, 1_000, 5);
  const newer = await read(dead, 2);
  const metrics = memoryMetrics();
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ component: 'test' }, 'info', (l) => lines.push(JSON.parse(l) as Record<string, unknown>));
  const n = await handOverDead({ config, stages: ['preprocess', 'nosuch'], pid: DEAD_PID, exitedAt, logger, metrics, exit: { code: null, signal: 'SIGKILL' } });
  assert.is(n, 3);
  const rows = new Map((await pendingOf(stream, 'preprocess')).map((r) => [r[0], r]));
  for (const id of held) {
    assert.is(rows.get(id)![1], dead, "still the dead consumer's: the claim is the reclaimer's, through claim-3.lua");
    assert.ok(rows.get(id)![2] >= CLAIM_MIN_IDLE_MS, `${id} idle ${rows.get(id)![2]} ms: claimable now`);
  }
  assert.equal(
    held.map((id) => rows.get(id)![3]),
    [3, 1, 1],
    'delivery counts kept',
  );
  for (const id of [...live, ...newer]) assert.ok(rows.get(id)![2] < CLAIM_MIN_IDLE_MS, `${id} (a live reader's) left alone`);
  assert.equal(
    metrics.records.filter((r) => r.name === 'supervisor.handed_over').map((r) => [r.value, r.tags.stage]),
    [[3, 'preprocess']],
  );
  const logged = lines.find((l) => l.event === 'supervisor.handed_over')!;
  assert.equal([logged.stage, logged.consumer, logged.entries, logged.signal], ['preprocess', dead, 3, 'SIGKILL']);

  // A worker's first reclaimer pass takes them (claimIntervalMs is 30 s): the two run, the
  // thrice-delivered one is dead-lettered on its 4th delivery; the others stay with their readers.
  const worker = new Worker({ config, stage: 'preprocess', stages: STAGES, logger: silentLogger });
  const running = worker.run();
  try {
    await waitFor(
      "the dead consumer's 3 entries handled",
      async () => (await redis.xlen(keys.dlq)) === 1 && (await redis.xlen(keys.stream('validate'))) >= 2,
      10_000,
    );
  } finally {
    await worker.stop();
    await running;
  }
  const dl = (await redis.xrange(keys.dlq, '-', '+'))[0]![1];
  const f = Object.fromEntries(Array.from({ length: dl.length / 2 }, (_, i) => [dl[2 * i], dl[2 * i + 1]]));
  assert.equal([f.id, f.reason, f.deliveries], [held[0], 'max_deliveries', '4'], 'the kill counted as a delivery, as a late reclaim does');
  const left = await pendingOf(stream, 'preprocess');
  assert.equal(left.map((r) => r[0]).sort(), [...live, ...newer].sort(), "only the live readers' entries are still pending");
});

/** Every batch after the held first one takes this long. */
const SLOW_MS = 100;

test('pipeline up: a worker SIGKILLed mid-batch hands its entries over at once; the restarted worker stores them well before claimMinIdleMs, each once', async () => {
  const pipeline = randomPipeline('dh');
  const keys = new Keys(pipeline);
  const marker = join(tmpdir(), `${pipeline}-hung`);
  const module = slowStageModule(marker, SLOW_MS);
  const BATCH = 5;
  const LATER = 15;
  const CLAIM_INTERVAL_MS = 20_000; // the restarted worker's first pass is at once, not one interval later
  const RESTART_BASE_MS = 300;
  /** What a worker process needs from spawn to `worker.started` (tsx, on a shared 2-core machine). */
  const START_MS = 30_000;
  const defaults = { ...FAST, batchSize: BATCH, claimMinIdleMs: CLAIM_MIN_IDLE_MS, claimIntervalMs: CLAIM_INTERVAL_MS };
  const file = join(tmpdir(), `${pipeline}-config.json`);
  writeFileSync(
    file,
    JSON.stringify({ ...stageThenStore(pipeline, { name: 'slow', kind: `module:${module}` }, defaults), supervisor: { restartBaseMs: RESTART_BASE_MS } }),
  );
  const up = cli(['--config', file, 'up', '--no-autoscale'], server.url);
  try {
    await produce(redis, Readable.from([records(BATCH, 'a')]), { stream: keys.stream('in'), source: 'test', maxRecordBytes: 65536 });
    await waitFor('a worker holds the batch in its stage', () => existsSync(marker), START_MS);
    const pid = Number(readFileSync(marker, 'utf8'));
    const dead = consumerName(hostname(), pid, 0);
    await waitFor('its batch pending', async () => (await pendingOf(keys.stream('in'), 'slow')).filter((r) => r[1] === dead).length === BATCH);
    process.kill(pid, 'SIGKILL');
    const killedAt = Date.now();
    await produce(redis, Readable.from([records(LATER, 'b')]), { stream: keys.stream('in'), source: 'test', maxRecordBytes: 65536 });

    await waitFor('the supervisor saw the crash', () => events(up.output(), 'supervisor.crashed').some((e) => e.pid === pid), 5_000);
    const crashed = events(up.output(), 'supervisor.crashed').find((e) => e.pid === pid)!;
    const restartInMs = Number(crashed.restartInMs);
    assert.ok(restartInMs <= RESTART_BASE_MS, `first restart after ${restartInMs} ms (restartBaseMs, jittered)`);
    await waitFor('the hand-over', () => events(up.output(), 'supervisor.handed_over').some((e) => e.pid === pid), 5_000 + 1_000);
    const handed = events(up.output(), 'supervisor.handed_over').find((e) => e.pid === pid)!;
    assert.equal([handed.stage, handed.consumer, handed.entries, handed.signal], ['slow', dead, BATCH, 'SIGKILL']);
    const restarted = () => events(up.output(), 'worker.started').find((e) => e.stage === 'slow' && e.consumer !== dead);
    await waitFor('the restarted worker reading', () => restarted() !== undefined, restartInMs + START_MS);
    // From its start: its first reclaimer pass claims the 5, which run one by one, then the 15 in 3 batches.
    const processingMs = (BATCH + LATER / BATCH) * SLOW_MS + 5_000;
    assert.ok(processingMs < CLAIM_INTERVAL_MS && processingMs < CLAIM_MIN_IDLE_MS);
    await waitFor('every record stored', async () => (await redis.scard(keys.products)) === BATCH + LATER, processingMs);
    assert.ok(Date.now() - killedAt < CLAIM_MIN_IDLE_MS / 2, 'well before claimMinIdleMs');
    const copies = await Promise.all(
      [...Array.from({ length: BATCH }, (_, i) => `a${i}`), ...Array.from({ length: LATER }, (_, i) => `b${i}`)].map((id) =>
        redis.hget(keys.product(id), 'copies'),
      ),
    );
    assert.equal(
      copies.filter((c) => c !== '1'),
      [],
      'each product written by one store entry',
    );
    assert.is(await redis.xlen(keys.dlq), 0);
    const claimed = events(up.output(), 'reclaim.claimed').reduce((n, e) => n + Number(e.count), 0);
    assert.is(claimed, BATCH, 'the restarted worker claimed the dead batch (claim-3.lua)');
    await waitFor('nothing pending', async () => (await pendingOf(keys.stream('in'), 'slow')).length === 0, 5_000);
  } finally {
    await stopSupervisor(up);
    for (const f of [file, module, marker]) rmSync(f, { force: true });
  }
});

test.run();
