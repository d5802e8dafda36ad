import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { handOff, handOffArgs } from '../../lib/stream/handoff.js';
import { readGroupEntries } from '../../lib/stream/entries.js';
import { Keys } from '../../lib/redis/keys.js';
import { Script } from '../../lib/redis/script.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';

const { redis } = await redisForFile(test);
/** The hand-off source of stream `src` read by group `group` (fence key beside it, same hash tag). */
const from = (src: string, group: string) => ({ stream: src, group, fenceKey: `${src}:fence` });
const claim = new Script('claim-3');
const handOffAcked = async (...a: Parameters<typeof handOff>) => (await handOff(...a)).acked;

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
  assert.equal(await handOffAcked(redis, from(src, 'a'), [forward]), [true]);
  assert.equal(await handOffAcked(redis, from(src, 'a'), [forward]), [false]);
  assert.is(await redis.xlen(dst), 1);
  assert.equal((await redis.xpending(src, 'a'))[0], 0);
});

test('one call acks a batch and fans out per message; ack-only entries forward nothing', async () => {
  const keys = new Keys(randomPipeline());
  const [src, x, y] = [keys.stream('a'), keys.stream('x'), keys.stream('y')];
  await redis.xgroup('CREATE', src, 'a', '0', 'MKSTREAM');
  for (let i = 0; i < 3; i++) await redis.xadd(src, '*', 'k', `p${i}`);
  const ids = readGroupEntries(await redis.callBuffer('XREADGROUP', 'GROUP', 'a', 'c1', 'STREAMS', src, '>')).map((e) => e.id);
  const acked = await handOffAcked(redis, from(src, 'a'), [
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
  const acked = await handOffAcked(redis, from(src, 'a'), [
    { id: ids[0]!, targets: [dst], fields: ['k', 'Müller – ボルト ✓', 'e', big] },
    { id: ids[1]!, targets: [dst], fields: ['k', 'p', 'e', '', 'x', '3'] },
  ]);
  assert.equal(acked, [true, true]);
  const out = await redis.xrangeBuffer(dst, '-', '+');
  assert.is(out[0]![1][1]!.toString(), 'Müller – ボルト ✓');
  assert.ok(out[0]![1][3]!.equals(big), 'the 70,000-byte value arrives unchanged');
  assert.equal(out[1]![1].map(String), ['k', 'p', 'e', '', 'x', '3']);
});

test('after FUNCTION FLUSH the hand-off loads the Functions library again and goes through', async () => {
  const keys = new Keys(randomPipeline());
  const src = keys.stream('a');
  await redis.xgroup('CREATE', src, 'a', '0', 'MKSTREAM');
  await redis.xadd(src, '*', 'k', 'p');
  const [e] = readGroupEntries(await redis.callBuffer('XREADGROUP', 'GROUP', 'a', 'c1', 'STREAMS', src, '>'));
  await redis.call('FUNCTION', 'FLUSH');
  assert.equal(await handOffAcked(redis, from(src, 'a'), [{ id: e!.id, targets: [], fields: [] }]), [true]);
});

/** A stream with `n` entries all read by consumer c1 of group a: their ids. */
async function readBy(src: string, n: number, consumer = 'c1'): Promise<string[]> {
  await redis.xgroup('CREATE', src, 'a', '0', 'MKSTREAM');
  for (let i = 0; i < n; i++) await redis.xadd(src, '*', 'k', `p${i}`, 'e', `v${i}`);
  return readGroupEntries(await redis.callBuffer('XREADGROUP', 'GROUP', 'a', consumer, 'STREAMS', src, '>')).map((e) => e.id);
}
const toDst = (dst: string) => (id: string, i: number) => ({ id, targets: [dst], fields: ['k', `p${i}`, 'e', `v${i}`] });

test('fenced: an unchanged fence acks the batch at once and forwards it; the same call sent again forwards nothing', async () => {
  const keys = new Keys(randomPipeline());
  const [src, dst] = [keys.stream('a'), keys.stream('b')];
  const ids = await readBy(src, 5);
  const forwards = ids.map(toDst(dst));
  const first = await handOff(redis, from(src, 'a'), forwards, '0');
  assert.equal(first, { acked: [true, true, true, true, true], fence: '0', odd: 0 });
  assert.is(await redis.xlen(dst), 5);
  assert.equal((await redis.xpending(src, 'a'))[0], 0);
  // As when the reply was lost and ioredis re-sent the command after reconnecting.
  assert.equal((await handOff(redis, from(src, 'a'), forwards, '0')).acked, [false, false, false, false, false]);
  assert.is(await redis.xlen(dst), 5, 'nothing forwarded twice');
});

test('a claim through claim-3.lua moves the fence: the stale hand-off checks each entry and forwards only what the claimer did not', async () => {
  const keys = new Keys(randomPipeline());
  const [src, dst] = [keys.stream('a'), keys.stream('b')];
  const ids = await readBy(src, 6);
  const fenceBefore = '0';
  // c2 claims the first 2 (as its reclaimer would) and hands them off.
  const [, claimed] = await claim.runBuffer<[Buffer, [Buffer, Buffer[]][]]>(redis, [src, `${src}:fence`, `${src}:fence`], ['a', 'c2', 0, '0-0', 2, 'tok1']);
  assert.equal(
    claimed.map((e) => e[0].toString()),
    ids.slice(0, 2),
  );
  assert.is(await redis.get(`${src}:fence`), 'tok1', 'the claim set the fence to its token');
  assert.equal((await handOff(redis, from(src, 'a'), ids.slice(0, 2).map(toDst(dst)))).acked, [true, true]);
  // c1 finishes its batch of 6 with the fence it read under.
  const late = await handOff(redis, from(src, 'a'), ids.map(toDst(dst)), fenceBefore);
  assert.equal(late, { acked: [false, false, true, true, true, true], fence: 'tok1', odd: 0 });
  assert.equal(
    (await redis.xrange(dst, '-', '+')).map((e) => e[1][1]),
    ['p0', 'p1', 'p2', 'p3', 'p4', 'p5'],
    'every entry forwarded once',
  );
  // A claim pass that takes nothing leaves the fence alone.
  await claim.runBuffer(redis, [src, `${src}:fence`, `${src}:fence`], ['a', 'c2', 0, '0-0', 10, 'tok2']);
  assert.is(await redis.get(`${src}:fence`), 'tok1');
});

test('the fence is what makes the one-XACK path safe: a claim that bypasses it (plain XCLAIM) lets a stale hand-off forward again', async () => {
  const keys = new Keys(randomPipeline());
  const [src, dst] = [keys.stream('a'), keys.stream('b')];
  const ids = await readBy(src, 4);
  await redis.xclaim(src, 'a', 'c2', 0, ids[0]!, 'JUSTID'); // no fence bump
  await handOff(redis, from(src, 'a'), [toDst(dst)(ids[0]!, 0)]);
  const late = await handOff(redis, from(src, 'a'), ids.map(toDst(dst)), '0');
  assert.is(late.odd, 1, 'the script saw one entry that was not pending');
  assert.is(await redis.xlen(dst), 5, 'p0 arrived twice: every claim must go through claim-3.lua');
});

test('a moving fence ("!<token>") checks each entry and sets the fence to the token only when it acked one', async () => {
  const keys = new Keys(randomPipeline());
  const [src, dst] = [keys.stream('a'), keys.stream('b')];
  const source = from(src, 'a');
  await redis.xgroup('CREATE', src, 'a', '0', 'MKSTREAM');
  await redis.set(source.fenceKey, 'before');
  await redis.xadd(src, '*', 'k', 'p1', 'e', 'x');
  const [e] = readGroupEntries(await redis.callBuffer('XREADGROUP', 'GROUP', 'a', 'c1', 'STREAMS', src, '>'));
  const forward = { id: e!.id, targets: [dst], fields: ['k', 'p1', 'e', 'out'] };
  const first = await handOff(redis, source, [forward], '!moved-1');
  assert.equal([first.acked, first.fence, await redis.get(source.fenceKey)], [[true], 'moved-1', 'moved-1']);
  // Sent again (nothing acked): the fence stays where it is.
  const again = await handOff(redis, source, [forward], '!moved-2');
  assert.equal([again.acked, again.fence, await redis.get(source.fenceKey)], [[false], 'moved-1', 'moved-1']);
  assert.is(await redis.xlen(dst), 1);
});

test('a batch naming more than 252 targets is split into calls of at most 255 keys, each message handed off once', async () => {
  const keys = new Keys(randomPipeline());
  const src = keys.stream('a');
  await redis.xgroup('CREATE', src, 'a', '0', 'MKSTREAM');
  for (let i = 0; i < 300; i++) await redis.xadd(src, '*', 'k', `p${i}`);
  const ids = readGroupEntries(await redis.callBuffer('XREADGROUP', 'GROUP', 'a', 'c1', 'STREAMS', src, '>')).map((e) => e.id);
  const forwards = ids.map((id, i) => ({ id, targets: [keys.stream(`t${i}`)], fields: ['k', `p${i}`, 'e', `v${i}`] }));
  const first = handOffArgs(from(src, 'a'), forwards);
  assert.is(first.keys.length, 255, 'the first call fills KEYS');
  assert.is(first.next, 252, 'source, fence and the hand-off memory take three of them');
  assert.equal(
    await handOffAcked(redis, from(src, 'a'), forwards),
    ids.map(() => true),
  );
  for (const i of [0, 251, 252, 299])
    assert.equal(
      (await redis.xrange(keys.stream(`t${i}`), '-', '+')).map((e) => e[1]),
      [['k', `p${i}`, 'e', `v${i}`]],
    );
  assert.equal((await redis.xpending(src, 'a'))[0], 0);
});

test('shapes no call can carry are refused before anything is sent', () => {
  const bad =
    (fields: string[], targets = ['x']) =>
    () =>
      handOffArgs(from('s', 'g'), [{ id: '1-0', targets, fields }]);
  assert.throws(bad(['k']), /even number/);
  assert.throws(bad(Array.from({ length: 256 }, () => 'f')), /even number below 255/);
  assert.throws(bad([]), /without fields/);
  assert.throws(
    bad(
      ['k', 'v'],
      Array.from({ length: 253 }, (_, i) => `t${i}`),
    ),
    /at most 252/,
  );
});

test.run();
