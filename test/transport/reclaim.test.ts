import { rmSync } from 'node:fs';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { silentLogger } from '../../lib/observe/logger.js';
import { produce } from '../../lib/producer/producer.js';
import { Keys } from '../../lib/redis/keys.js';
import { Script } from '../../lib/redis/script.js';
import { Worker } from '../../lib/worker/worker.js';
import { STAGES } from '../../stages/index.js';
import { cli, exited, FAST, rulesOnlyConfig, writeConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);
const children: ReturnType<typeof cli>[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The consumers of a group, by name: pending count and idle ms. */
async function consumers(stream: string, group: string): Promise<Map<string, { pending: number; idle: number }>> {
  const rows = (await redis.xinfo('CONSUMERS', stream, group)) as unknown[][];
  const out = new Map<string, { pending: number; idle: number }>();
  for (const r of rows) {
    const m = new Map<string, unknown>();
    for (let i = 0; i + 1 < r.length; i += 2) m.set(String(r[i]), r[i + 1]);
    out.set(String(m.get('name')), { pending: Number(m.get('pending')), idle: Number(m.get('idle')) });
  }
  return out;
}

/** CLIENT LIST flags of the connection with this name ('' if none). */
async function clientFlags(name: string): Promise<string | undefined> {
  const line = ((await redis.client('LIST')) as string).split('\n').find((l) => l.includes(` name=${name} `));
  return line ? /\bflags=(\S*)/.exec(line)?.[1] : undefined;
}

function records(n: number, prefix: string): string {
  return Array.from({ length: n }, (_, i) => JSON.stringify({ id: `${prefix}${i}`, title: `item ${i}`, ...(i % 2 ? { mpn: `MX-${i}` } : {}) })).join('\n');
}

test('entries held by a worker killed with SIGKILL are reclaimed by another: every record stored exactly once, the reclaim logged, the dead consumer removed', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  const N = 300;
  // blockMs long so the victim is surely blocked in XREADGROUP when it is frozen.
  const config = writeConfig(pipeline, { ...FAST, blockMs: 2000, batchSize: 50, claimMinIdleMs: 3000, consumerIdleRemoveMs: 1000 });
  try {
    const victim = cli(['--config', config, 'worker', 'preprocess'], server.url);
    children.push(victim);
    await waitFor('victim started', () => victim.output().includes('"event":"worker.started"'));
    const consumer = /"event":"worker.started"[^\n]*"consumer":"([^"]+)"/.exec(victim.output())![1]!;
    const reader = `preprocess:${consumer}:read`;
    // Freeze it while its XREADGROUP is blocked on the server: the server still delivers to it.
    for (;;) {
      await waitFor('victim blocked in XREADGROUP', async () => (await clientFlags(reader))?.includes('b') === true);
      victim.kill('SIGSTOP');
      if ((await clientFlags(reader))?.includes('b')) break;
      victim.kill('SIGCONT'); // unblocked just before the freeze: try again
    }
    await produce(redis, Readable.from([records(N, 'r')]), { stream: keys.stream('in'), source: 'test', maxRecordBytes: 65536 });
    await waitFor('victim holds a batch', async () => (await consumers(keys.stream('in'), 'preprocess')).get(consumer)?.pending === 50);
    victim.kill('SIGKILL');
    await exited(victim);

    const rescuers = ['preprocess', 'validate', 'store'].map((s) => cli(['--config', config, 'worker', s], server.url));
    children.push(...rescuers);
    await waitFor('all stored', async () => (await redis.scard(keys.products)) === N, 60_000);
    await waitFor('dead consumer removed', async () => !(await consumers(keys.stream('in'), 'preprocess')).has(consumer), 30_000);
    for (const r of rescuers) r.kill('SIGTERM');
    assert.equal(await Promise.all(rescuers.map(exited)), [0, 0, 0]);

    const copies = await Promise.all(Array.from({ length: N }, (_, i) => redis.hget(keys.product(`r${i}`), 'copies')));
    assert.equal(
      copies.filter((c) => c !== '1'),
      [],
      'every product written by exactly one store entry',
    );
    assert.is(((await redis.xpending(keys.stream('in'), 'preprocess')) as [number])[0], 0);
    const log = rescuers[0]!.output();
    const claimed = [...log.matchAll(/"event":"reclaim\.claimed"[^\n]*"count":(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
    assert.is(claimed, 50, 'the rescuer logged claiming the 50 held entries');
    assert.match(log, /"event":"worker\.stopped"[^\n]*"reclaimed":50/);
    assert.match(log, new RegExp(`"event":"reclaim\\.consumer_removed"[^\\n]*"removed":"${consumer}"`));
  } finally {
    rmSync(config, { force: true });
  }
});

test('a consumer that still owns pending entries is never removed; an idle one that owns nothing is', async () => {
  // Reclaim far away (nothing is claimed from the owner), removal after 200 ms idle.
  const config = rulesOnlyConfig(server.url, randomPipeline(), { ...FAST, claimMinIdleMs: 600_000, consumerIdleRemoveMs: 200, claimIntervalMs: 50 });
  const keys = new Keys(config.pipeline);
  const stream = keys.stream('in');
  await redis.xgroup('CREATE', stream, 'preprocess', '0', 'MKSTREAM');
  for (let i = 0; i < 3; i++) await redis.xadd(stream, '*', 'k', `g${i}`, 'e', 'x');
  await redis.xreadgroup('GROUP', 'preprocess', 'ghost-owner', 'COUNT', 3, 'STREAMS', stream, '>');
  await redis.xgroup('CREATECONSUMER', stream, 'preprocess', 'ghost-empty');
  const worker = new Worker({ config, stage: 'preprocess', stages: STAGES, logger: silentLogger });
  const running = worker.run();
  try {
    await waitFor('empty ghost removed', async () => !(await consumers(stream, 'preprocess')).has('ghost-empty'));
    const passes = worker.reclaimer.removedConsumers;
    await sleep(1_500); // dozens of further reclaimer passes
    const owner = (await consumers(stream, 'preprocess')).get('ghost-owner');
    assert.ok(owner, 'the consumer that owns pending entries is still in the group');
    assert.is(owner.pending, 3);
    assert.ok(owner.idle >= 200, 'it was idle long enough to be removed, had it owned nothing');
    assert.is(worker.reclaimer.removedConsumers, passes, 'nothing else was removed');
    // The script itself refuses, whatever the idle limit.
    const del = new Script('delete-idle-consumer-1');
    assert.is(await del.run<number>(redis, [stream], ['preprocess', 'ghost-owner', 0]), 0);
  } finally {
    await worker.stop();
    await running;
  }
});

test('an entry that kept killing its workers is dead-lettered when reclaimed past maxDeliveries, without running the stage again', async () => {
  const config = rulesOnlyConfig(server.url, randomPipeline(), { ...FAST, maxDeliveries: 3, claimMinIdleMs: 100 });
  const keys = new Keys(config.pipeline);
  const stream = keys.stream('in');
  await redis.xgroup('CREATE', stream, 'preprocess', '0', 'MKSTREAM');
  await produce(redis, Readable.from(['{"id":"killer","title":"crashes every worker"}']), { stream, source: 'test', maxRecordBytes: 65536 });
  const read = (await redis.xreadgroup('GROUP', 'preprocess', 'dead-1', 'STREAMS', stream, '>')) as [string, [string, string[]][]][];
  const id = read[0]![1][0]![0];
  // As if three workers had died holding it: the PEL counts 3 deliveries.
  await redis.xclaim(stream, 'preprocess', 'dead-3', 0, id, 'RETRYCOUNT', 3, 'JUSTID');
  const worker = new Worker({ config, stage: 'preprocess', stages: STAGES, logger: silentLogger });
  const running = worker.run();
  try {
    await waitFor('dead-lettered', async () => (await redis.xlen(keys.dlq)) === 1);
  } finally {
    await worker.stop();
    await running;
  }
  const fields = (await redis.xrange(keys.dlq, '-', '+'))[0]![1];
  const f = Object.fromEntries(Array.from({ length: fields.length / 2 }, (_, i) => [fields[2 * i], fields[2 * i + 1]]));
  assert.is(f.reason, 'max_deliveries');
  assert.is(f.deliveries, '4', 'the reclaim was the 4th delivery');
  assert.is(f.id, id);
  assert.is(f.k, 'killer');
  assert.is((await redis.xlen(keys.stream('validate'))) + (await redis.xlen(keys.stream('store'))), 0, 'nothing was forwarded');
  assert.is(worker.consumer.processed, 1, 'handed off once, to the DLQ');
});

test.after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});
test.run();
