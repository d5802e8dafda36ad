import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { handOff, handOffArgs } from '../lib/handoff.js';
import { readGroupEntries } from '../lib/entries.js';
import { Keys } from '../lib/redis/keys.js';
import { client, randomPipeline, startRedis } from './helpers/redis.js';

const server = await startRedis();
const redis = client(server.url);

test('two consumers process the same entry: it is forwarded once', async () => {
  const keys = new Keys(randomPipeline());
  const [src, dst] = [keys.stream('a'), keys.stream('b')];
  await redis.xgroup('CREATE', src, 'a', '0', 'MKSTREAM');
  await redis.xadd(src, '*', 'k', 'p1', 'e', 'payload');
  // Consumer 1 reads it; consumer 2 claims it while 1 is still working (as the reclaimer would).
  const read = readGroupEntries(await redis.callBuffer('XREADGROUP', 'GROUP', 'a', 'c1', 'COUNT', 10, 'STREAMS', src, '>'));
  assert.is(read.length, 1);
  const id = read[0]!.id;
  assert.equal(await redis.xclaim(src, 'a', 'c2', 0, id, 'JUSTID'), [id]);
  const forward = { id, targets: [dst], fields: ['k', 'p1', 'e', 'out'] };
  assert.equal(await handOff(redis, src, 'a', [forward]), [true]);
  assert.equal(await handOff(redis, src, 'a', [forward]), [false]);
  assert.is(await redis.xlen(dst), 1);
  assert.equal((await redis.xpending(src, 'a'))[0], 0);
});

test('one call acks a batch and fans out per message; ack-only entries forward nothing', async () => {
  const keys = new Keys(randomPipeline());
  const [src, x, y] = [keys.stream('a'), keys.stream('x'), keys.stream('y')];
  await redis.xgroup('CREATE', src, 'a', '0', 'MKSTREAM');
  for (let i = 0; i < 3; i++) await redis.xadd(src, '*', 'k', `p${i}`);
  const ids = readGroupEntries(await redis.callBuffer('XREADGROUP', 'GROUP', 'a', 'c1', 'STREAMS', src, '>')).map((e) => e.id);
  const acked = await handOff(redis, src, 'a', [
    { id: ids[0]!, targets: [x, y], fields: ['k', 'p0'] },
    { id: ids[1]!, targets: [], fields: [] },
    { id: ids[2]!, targets: [y], fields: ['k', 'p2', 'e', Buffer.from([0, 255])] },
  ]);
  assert.equal(acked, [true, true, true]);
  assert.is(await redis.xlen(x), 1);
  const yEntries = await redis.xrangeBuffer(y, '-', '+');
  assert.is(yEntries.length, 2);
  assert.equal(yEntries[1]![1][3], Buffer.from([0, 255]), 'binary payload forwarded byte for byte');
  assert.equal((await redis.xpending(src, 'a'))[0], 0);
});

test('the packed batch keeps every byte: non-ASCII keys, values over 64 KiB, entries of three fields', async () => {
  const keys = new Keys(randomPipeline());
  const [src, dst] = [keys.stream('a'), keys.stream('b')];
  await redis.xgroup('CREATE', src, 'a', '0', 'MKSTREAM');
  await redis.xadd(src, '*', 'k', 'x');
  await redis.xadd(src, '*', 'k', 'y');
  const ids = readGroupEntries(await redis.callBuffer('XREADGROUP', 'GROUP', 'a', 'c1', 'STREAMS', src, '>')).map((e) => e.id);
  const big = Buffer.alloc(70_000, 0xc1); // 0xc1 is never valid msgpack: the value is opaque to the script
  const acked = await handOff(redis, src, 'a', [
    { id: ids[0]!, targets: [dst], fields: ['k', 'Müller – ボルト ✓', 'e', big] },
    { id: ids[1]!, targets: [dst], fields: ['k', 'p', 'e', '', 'x', '3'] },
  ]);
  assert.equal(acked, [true, true]);
  const out = await redis.xrangeBuffer(dst, '-', '+');
  assert.is(out[0]![1][1]!.toString(), 'Müller – ボルト ✓');
  assert.ok(out[0]![1][3]!.equals(big), 'the 70,000-byte value arrives unchanged');
  assert.equal(out[1]![1].map(String), ['k', 'p', 'e', '', 'x', '3']);
});

test('NOSCRIPT after SCRIPT FLUSH falls back to EVAL', async () => {
  const keys = new Keys(randomPipeline());
  const src = keys.stream('a');
  await redis.xgroup('CREATE', src, 'a', '0', 'MKSTREAM');
  await redis.xadd(src, '*', 'k', 'p');
  const [e] = readGroupEntries(await redis.callBuffer('XREADGROUP', 'GROUP', 'a', 'c1', 'STREAMS', src, '>'));
  await redis.script('FLUSH');
  assert.equal(await handOff(redis, src, 'a', [{ id: e!.id, targets: [], fields: [] }]), [true]);
});

test('a batch naming more than 254 targets is split into calls of at most 255 keys, each message handed off once', async () => {
  const keys = new Keys(randomPipeline());
  const src = keys.stream('a');
  await redis.xgroup('CREATE', src, 'a', '0', 'MKSTREAM');
  for (let i = 0; i < 300; i++) await redis.xadd(src, '*', 'k', `p${i}`);
  const ids = readGroupEntries(await redis.callBuffer('XREADGROUP', 'GROUP', 'a', 'c1', 'STREAMS', src, '>')).map((e) => e.id);
  const forwards = ids.map((id, i) => ({ id, targets: [keys.stream(`t${i}`)], fields: ['k', `p${i}`, 'e', `v${i}`] }));
  const first = handOffArgs(src, 'a', forwards);
  assert.is(first.keys.length, 255, 'the first call fills KEYS');
  assert.is(first.next, 254);
  assert.equal(await handOff(redis, src, 'a', forwards), ids.map(() => true));
  for (const i of [0, 253, 254, 299]) assert.equal((await redis.xrange(keys.stream(`t${i}`), '-', '+')).map((e) => e[1]), [['k', `p${i}`, 'e', `v${i}`]]);
  assert.equal((await redis.xpending(src, 'a'))[0], 0);
});

test('shapes no call can carry are refused before anything is sent', () => {
  const bad = (fields: string[], targets = ['x']) => () => handOffArgs('s', 'g', [{ id: '1-0', targets, fields }]);
  assert.throws(bad(['k']), /even number/);
  assert.throws(bad(Array.from({ length: 256 }, () => 'f')), /even number below 255/);
  assert.throws(bad([]), /without fields/);
  assert.throws(bad(['k', 'v'], Array.from({ length: 255 }, (_, i) => `t${i}`)), /at most 254/);
});

test.after(async () => {
  redis.disconnect();
  await server.close();
});
test.run();
