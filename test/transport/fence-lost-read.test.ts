/**
 * The fence and a read lost in a failover (issue 13, item 4; test/topologies/cluster.test.ts "a master dies
 * mid-run without WAIT" found it under load). A worker holds a batch it read under a known claim
 * fence; the master it read from dies before that read reached the replica, so on the new master
 * the entries were never delivered: other consumers read them fresh (no claim, the fence does not
 * move); one forwards and acks some, another still holds the rest. The worker's connections drop and come back; when it hands its
 * batch off, the fence alone must not let it ack and forward: each record arrives once.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readGroupEntries } from '../../lib/stream/entries.js';
import { handOff } from '../../lib/stream/handoff.js';
import { gatedWorkerRig } from '../helpers/gated-worker.js';
import { redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);

/** `last-generated-id` of an XINFO STREAM reply (a flat field/value list). */
function lastGeneratedId(info: unknown[]): string {
  const i = info.indexOf('last-generated-id');
  assert.ok(i >= 0, 'XINFO STREAM gives last-generated-id');
  return String(info[i + 1]);
}
/**
 * The worker hands off one record (so it knows the claim fence), then holds a batch of 10; `meanwhile`
 * runs; then the failover: the new master never saw the worker's read of the 10 (not pending, not
 * delivered), and the worker's connections drop with the old master.
 */
async function holdThenLoseRead(rig: ReturnType<typeof gatedWorkerRig>, meanwhile: () => Promise<void> = async () => {}): Promise<void> {
  const { input, out, send } = rig;
  await send([JSON.stringify({ id: 'warm', title: 'warm-up' })]);
  await waitFor('warm-up handed off', async () => (await redis.xlen(out)) === 1);
  // The stream's last id, not its last entry: the worker's reclaimer may already have trimmed the
  // acked warm-up entry (trimAcked), leaving the stream empty.
  const lastBefore = lastGeneratedId((await redis.xinfo('STREAM', input)) as unknown[]);
  await send(Array.from({ length: 10 }, (_, i) => JSON.stringify({ id: `h${i}`, title: `hold ${i}` })));
  await waitFor('the worker holds the batch', async () => ((await redis.xpending(input, 'work')) as [number])[0] === 10);
  await meanwhile();
  const ids = (await redis.xrange(input, `(${lastBefore}`, '+', 'COUNT', 10)).map(([id]) => id);
  await redis.xack(input, 'work', ...ids);
  await redis.xgroup('SETID', input, 'work', lastBefore);
  const list = String(await redis.client('LIST'));
  const mine = [...list.matchAll(/id=(\d+) .*name=work:\S+/g)].map((m) => m[1]!);
  assert.ok(mine.length >= 2, `the worker's connections: ${mine.length}`);
  for (const id of mine) await redis.client('KILL', 'ID', id);
}

/** `n` records arrived in the out stream, none of them twice (`arrived`: the rig's count per key). */
async function arrivedOnceEach(arrived: () => Promise<Map<string, number>>, n: number): Promise<void> {
  const arrivals = await arrived();
  assert.equal([...arrivals.values()].filter((c) => c > 1).length, 0, `arrived more than once: ${JSON.stringify([...arrivals].filter(([, c]) => c > 1))}`);
  assert.is(arrivals.size, n);
}

test('a batch read before the connection failed is handed off message by message: a read the new master never had, re-read by others (some forwarded, the rest still held), is not forwarded twice', async () => {
  const rig = gatedWorkerRig(redis, server.url);
  const { keys, input, out, release, start, arrivals: arrived } = rig;
  const { worker, running } = start();
  try {
    await holdThenLoseRead(rig);
    // On the new master others read the 10 fresh (no claim: the fence stays): one forwards and
    // acks 4, another still holds the other 6.
    const read = async (consumer: string, count: number) =>
      readGroupEntries(await redis.callBuffer('XREADGROUP', 'GROUP', 'work', consumer, 'COUNT', count, 'STREAMS', input, '>'));
    const four = await read('other', 4);
    assert.is(four.length, 4);
    await handOff(
      redis,
      { stream: input, group: 'work', fenceKey: keys.fence('work') },
      four.map((e) => ({ id: e.id, targets: [out], fields: e.fields })),
    );
    assert.is((await read('third', 6)).length, 6);
    await waitFor('the worker reconnected', async () => /name=work:\S+:cmd\b/.test(String(await redis.client('LIST'))));

    release();
    // Done when nothing is pending any more (the worker acked the 6 the third consumer held).
    await waitFor('the worker handed off its batch', async () => ((await redis.xpending(input, 'work')) as [number])[0] === 0, 10_000);
  } finally {
    release();
    await worker.stop();
    await running;
  }
  await arrivedOnceEach(arrived, 11);
});

test('a consumer given a lost read afresh, with entries of its own, does not forward twice what the first consumer handed off before it: that hand-off moved the fence', async () => {
  const rig = gatedWorkerRig(redis, server.url);
  const { keys, input, out, release, start, send, arrivals: arrived } = rig;
  const { worker, running } = start();
  const source = { stream: input, group: 'work', fenceKey: keys.fence('work') };
  try {
    // Two records more arrive while it holds the batch: they are not part of the lost read.
    await holdThenLoseRead(rig, async () => {
      await new Promise((r) => setTimeout(r, 300)); // its read-ahead is in flight, blocked, holding nothing
      await send(Array.from({ length: 2 }, (_, i) => JSON.stringify({ id: `n${i}`, title: `new ${i}` })));
    });
    // Another consumer, which knows the current fence, reads the 10 lost and the 2 new.
    const fence = (await redis.get(keys.fence('work'))) ?? '0';
    const other = readGroupEntries(await redis.callBuffer('XREADGROUP', 'GROUP', 'work', 'other', 'COUNT', 12, 'STREAMS', input, '>'));
    assert.is(other.length, 12);
    await waitFor('the worker reconnected', async () => /name=work:\S+:cmd\b/.test(String(await redis.client('LIST'))));
    release();
    await waitFor('the worker handed off the 10', async () => ((await redis.xpending(input, 'work')) as [number])[0] === 2, 10_000);
    // The other consumer hands off under the fence it read with: only its own 2 are still pending.
    const r = await handOff(
      redis,
      source,
      other.map((e) => ({ id: e.id, targets: [out], fields: e.fields })),
      fence,
    );
    assert.is(r.acked.filter(Boolean).length, 2, `forwarded by the other consumer: ${JSON.stringify(r.acked)}`);
  } finally {
    release();
    await worker.stop();
    await running;
  }
  await arrivedOnceEach(arrived, 13);
});

test.run();
