import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isIdle, pipelineStatus } from '../../lib/ops/inspect.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { produce } from '../../lib/producer/producer.js';
import { isLivenessMarker, Keys } from '../../lib/redis/keys.js';
import { Worker } from '../../lib/worker/worker.js';
import { STAGES } from '../../stages/index.js';
import { allowWrites, refuseWrites } from '../helpers/misconf.js';
import { FAST, rulesOnlyConfig, stopAll } from '../helpers/pipeline.js';
import { assertStoredOnce, countingMetrics } from '../helpers/outage-records.js';
import { client, randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

/**
 * Redis that cannot persist (MISCONF: a full disk, a killed save) refuses every write until a
 * save succeeds: an outage, as OOM is (test/data-safety/oom.test.ts), never a record's fault.
 */
const { server, redis } = await redisForFile(test);
// Few deliveries and fast retries: before the fix, MISCONF on a hand-off or a store cost a
// delivery per try, and good records were dead-lettered once Redis took writes again.
const config = rulesOnlyConfig(server.url, randomPipeline(), { ...FAST, maxDeliveries: 2, retryBaseMs: 5, retryMaxMs: 20 });
const keys = new Keys(config.pipeline);

/** Every pending entry of every stage's group: its idle time and how many times it was delivered (XPENDING). */
async function pendingOf(): Promise<{ stage: string; id: string; idleMs: number; deliveries: number }[]> {
  const all = [];
  for (const s of config.stages) {
    const rows = (await redis.xpending(keys.stream(s.input), s.name, '-', '+', 100_000).catch(() => [])) as [string, string, number, number][];
    all.push(...rows.map(([id, , idleMs, deliveries]) => ({ stage: s.name, id, idleMs, deliveries })));
  }
  return all;
}

const misconfRefusals = async () => Number(/errorstat_MISCONF:count=(\d+)/.exec(await redis.info('errorstats'))?.[1] ?? 0);

test('Redis unable to persist (MISCONF) while producing and storing: the producer and every stage wait, no delivery is counted, then after a save succeeds every record is stored once and nothing is dead-lettered', async () => {
  const metrics = countingMetrics();
  // Two consumers per stage: a sibling must not take (and count a delivery of) the entries a consumer waits with.
  const workers = [...config.stages, ...config.stages].map(
    (s, index) => new Worker({ config, stage: s.name, index, stages: STAGES, logger: silentLogger, metrics }),
  );
  for (const w of workers) w.run().catch((err) => console.error('worker failed', err));
  const producer = client(server.url);
  const N = 2000;
  const lines = Array.from({ length: N }, (_, i) => JSON.stringify({ id: `m${i}`, title: `Product ${i}`, ...(i % 3 === 0 ? { mpn: `MX-${i}` } : {}) }));
  // Paced, so records are still coming in and in flight through the stages when Redis stops taking writes.
  async function* paced() {
    for (let i = 0; i < N; i += 100) {
      yield lines.slice(i, i + 100).join('\n') + '\n';
      await new Promise((r) => setImmediate(r));
    }
  }
  // Its outcome, kept (a rejection before it is awaited must fail the test, not end the process).
  let producing: Promise<Awaited<ReturnType<typeof produce>> | Error> | undefined;
  try {
    await waitFor('workers reading', async () => (await redis.keys(`${keys.extra('liveness:*')}`)).filter(isLivenessMarker).length === workers.length);
    producing = produce(producer, Readable.from(paced()), {
      stream: keys.stream('in'),
      source: 'misconf-test',
      maxRecordBytes: 65536,
      batchSize: 50,
      retryForMs: 120_000,
      retryMaxMs: 100,
    }).catch((err: Error) => err);
    await waitFor('records in flight', async () => (await redis.scard(keys.products)) > 0);
    await refuseWrites(redis); // a plain SET is refused with MISCONF: the outage is real
    const before = await misconfRefusals();
    // Long enough for poison retries (maxDeliveries 2, 5-20 ms apart) to have dead-lettered many times over.
    await waitFor('the stages meeting MISCONF many times', async () => (await misconfRefusals()) - before > 300, 30_000);
    // Held until entries have waited past the claim and hand-over thresholds (keeping them claimed, the
    // alive keys: writes, refused too), so a sibling could take them once Redis takes writes again.
    const threshold = Math.max(...config.stages.map((s) => Math.max(s.claimMinIdleMs, s.aliveTtlMs)));
    await waitFor('entries waiting past the claim thresholds', async () => (await pendingOf()).some((p) => p.idleMs > threshold + 500), 30_000);
    const waiting = await pendingOf();
    assert.ok(waiting.length > 0);
    assert.equal(
      waiting.filter((p) => p.deliveries > 1),
      [],
      'every entry waiting in place was delivered once',
    );
    const stored = await redis.scard(keys.products);
    assert.ok(stored < N, `records still in flight while writes are refused (${stored} of ${N} stored)`);
    // Before the fix: tens of retries counted and as many records dead-lettered within the outage.
    assert.is(metrics.counts.get('messages.retries') ?? 0, 0, 'no delivery counted for the outage');
    assert.is(metrics.counts.get('messages.dead_lettered') ?? 0, 0, 'nothing dead-lettered during the outage');
    assert.ok((metrics.counts.get('redis.misconf') ?? 0) > 0, 'the outage is counted for alerting');
    await allowWrites(redis);
    const summary = await producing;
    assert.is(summary instanceof Error ? `the producer gave up: ${summary.message}` : summary.produced, N);
    await waitFor(
      'drained',
      async () => (await redis.scard(keys.products)) + (await redis.xlen(keys.dlq)) >= N && isIdle(await pipelineStatus(redis, config)),
      60_000,
    );
  } finally {
    await allowWrites(redis).catch(() => undefined);
    await producing;
    await stopAll(workers);
    producer.disconnect();
  }
  await assertStoredOnce(redis, keys, N, 'm', metrics.counts);
  assert.is(metrics.counts.get('messages.retries') ?? 0, 0, 'no delivery counted for the outage');
  assert.is(metrics.counts.get('messages.reclaimed') ?? 0, 0, 'no entry taken from the consumer that waited with it');
  assert.ok((metrics.counts.get('redis.misconf') ?? 0) > 0, 'the outage is counted for alerting');
});

test.run();
