import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { produce } from '../../lib/producer/producer.js';
import { Keys } from '../../lib/redis/keys.js';
import { trimAcked } from '../../lib/stream/retention.js';
import { FAST, rulesOnlyConfig, startWorkers, stopAll } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

// Small radix-tree nodes, so approximate trimming (MINID ~) removes acked entries in small steps.
const NODE = 10;
const { server, redis } = await redisForFile(test, { settings: { 'stream-node-max-entries': String(NODE) } });

async function readAck(stream: string, group: string, count: number, ackFirst: number): Promise<string[]> {
  const reply = (await redis.xreadgroup('GROUP', group, 'c', 'COUNT', count, 'STREAMS', stream, '>')) as [string, [string, string[]][]][];
  const ids = reply[0]![1].map(([id]) => id);
  if (ackFirst > 0) await redis.xack(stream, group, ...ids.slice(0, ackFirst));
  return ids;
}

test('trimming never removes entries a group has not acked (two groups, one lagging), and removes what every group acked', async () => {
  const stream = new Keys(randomPipeline()).stream('in');
  const p = redis.pipeline();
  for (let i = 0; i < 1000; i++) p.xadd(stream, '*', 'n', String(i));
  await p.exec();
  const all = (await redis.xrange(stream, '-', '+')).map(([id]) => id);
  await redis.xgroup('CREATE', stream, 'fast', '0');
  await redis.xgroup('CREATE', stream, 'slow', '0');
  await readAck(stream, 'fast', 1000, 1000); // fast: everything acked
  const slowRead = await readAck(stream, 'slow', 300, 100); // slow: 100 acked, 200 pending, 700 not yet read

  const first = await trimAcked(redis, stream);
  assert.is(first.minId, slowRead[100], 'the oldest entry the slow group has not acked');
  assert.ok(first.removed > 0 && first.removed <= 100, `only acked entries go (${first.removed})`);
  const left = (await redis.xrange(stream, '-', '+')).map(([id]) => id);
  assert.equal(left.slice(-900), all.slice(100), 'every entry from the oldest unacked one on is still there');
  // The slow group can still process all it has not acked: its pending entries and the unread rest.
  const pending = (await redis.xpending(stream, 'slow', '-', '+', 1000)) as [string][];
  assert.is(pending.length, 200);
  for (const [id] of pending) assert.is((await redis.xrange(stream, id, id)).length, 1, `pending ${id} has its data`);
  assert.is((await readAck(stream, 'slow', 1000, 0)).length, 700);

  // Once the slow group acks everything, trimming removes (nearly) all: MINID ~ keeps at most a node.
  await redis.xack(stream, 'slow', ...all);
  const second = await trimAcked(redis, stream);
  assert.ok(second.removed > 0);
  assert.ok((await redis.xlen(stream)) <= NODE, `at most one node left (${await redis.xlen(stream)})`);
  assert.is(second.minId, `${all[999]!.split('-')[0]}-${Number(all[999]!.split('-')[1]) + 1}`, 'the entry after the last delivered');
});

test('a stream without consumer groups is never trimmed', async () => {
  const stream = new Keys(randomPipeline()).stream('in');
  for (let i = 0; i < 50; i++) await redis.xadd(stream, '*', 'n', String(i));
  assert.equal(await trimAcked(redis, stream), { removed: 0, minId: undefined });
  assert.is(await redis.xlen(stream), 50);
  assert.equal(await trimAcked(redis, `${stream}-missing`), { removed: 0, minId: undefined });
});

test("running workers trim their input stream only below what every group acked: another group's unread entries stay", async () => {
  const config = rulesOnlyConfig(server.url, randomPipeline(), FAST);
  const keys = new Keys(config.pipeline);
  const input = keys.stream('in');
  const N = 500;
  await redis.xgroup('CREATE', input, 'audit', '0', 'MKSTREAM'); // a second reader that lags behind
  const lines = Array.from({ length: N }, (_, i) => JSON.stringify({ id: `k${i}`, title: `t ${i}` })).join('\n');
  await produce(redis, Readable.from([lines]), { stream: input, source: 'test', maxRecordBytes: 65536 });
  const workers = startWorkers(config);
  try {
    await waitFor('all stored', async () => (await redis.scard(keys.products)) === N);
    await new Promise((r) => setTimeout(r, 10 * (FAST.claimIntervalMs ?? 100))); // several reclaimer passes, each trims
    assert.is(await redis.xlen(input), N, 'nothing trimmed while the audit group has read nothing');
    assert.ok((await redis.xlen(keys.stream('store'))) <= NODE, 'the store stream, read by one group only, is trimmed');
    await readAck(input, 'audit', N, N);
    await waitFor('input trimmed once audit acked', async () => (await redis.xlen(input)) <= NODE);
  } finally {
    await stopAll(workers);
  }
});

test.run();
