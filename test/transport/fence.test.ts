import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { toEntries } from '../../lib/stream/entries.js';
import { handOff } from '../../lib/stream/handoff.js';
import { produce } from '../../lib/producer/producer.js';
import { Script } from '../../lib/redis/script.js';
import { gatedWorkerRig } from '../helpers/gated-worker.js';
import { redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);
const claim = new Script('claim-3');
/** claim-3.lua's ARGV for `consumer` taking up to `count` entries of group work, idle or not. */
const claimArgs = (consumer: string, count: number) => ['work', consumer, 0, '0-0', count];

type ClaimedBy = 'claim-3.lua' | 'plain XCLAIM' | 'claim-3.lua after a lost claim';

/**
 * A real worker of stage `work` hands off one quick record (so it knows the claim fence), then
 * reads a batch of 10 that its stage holds until released. Meanwhile another consumer, played by
 * the test, claims 4 of the 10 (`how`) and hands them off to `out`. Then the worker is released
 * and hands off its 10. Returns how often each record arrived in `out` and the worker's counts.
 */
async function raceForTheBatch(how: ClaimedBy) {
  const { keys, input, out, release, metrics, logs, start, send, arrivals: arrived } = gatedWorkerRig(redis, server.url);
  const fenceKey = keys.fence('work');
  let lostFence: string | null | undefined;
  let claimed: string[] | undefined;
  if (how === 'claim-3.lua after a lost claim') {
    // An earlier claim (of a record that ghost read) bumps the fence; the worker will see it.
    await redis.xgroup('CREATE', input, 'work', '0', 'MKSTREAM');
    await produce(redis, Readable.from([JSON.stringify({ id: 'pre', title: 'earlier' })]), { stream: input, source: 'test', maxRecordBytes: 65536 });
    await redis.xreadgroup('GROUP', 'work', 'ghost', 'COUNT', 1, 'STREAMS', input, '>');
    lostFence = await redis.get(fenceKey);
    const [, pre] = await claim.runBuffer<[Buffer, [Buffer, Buffer[]][]]>(redis, [input, fenceKey, fenceKey], claimArgs('ghost2', 1));
    const [entry] = toEntries(pre);
    await handOff(redis, { stream: input, group: 'work', fenceKey }, [{ id: entry!.id, targets: [out], fields: entry!.fields }]);
  }
  const { worker, running } = start();
  try {
    await send([JSON.stringify({ id: 'warm', title: 'warm-up' })]);
    await waitFor('warm-up handed off', async () => (await redis.xlen(out)) === (lostFence === undefined ? 1 : 2));
    await send(Array.from({ length: 10 }, (_, i) => JSON.stringify({ id: `h${i}`, title: `hold ${i}` })));
    await waitFor('the worker holds the batch', async () => ((await redis.xpending(input, 'work')) as [number])[0] === 10);

    if (how === 'claim-3.lua after a lost claim') {
      // A failover to a replica that had not received the earlier claim's fence write (or a
      // restart from an AOF/RDB without it): the fence is back to its value before that claim,
      // while the worker still holds a batch read under the value it saw after it.
      if (lostFence === null) await redis.del(fenceKey);
      else if (lostFence !== undefined) await redis.set(fenceKey, lostFence);
    }
    // The other consumer takes 4 of them and forwards them.
    let ids: string[];
    if (how !== 'plain XCLAIM') {
      const [, entries] = await claim.runBuffer<[Buffer, [Buffer, Buffer[]][]]>(redis, [input, fenceKey, fenceKey], claimArgs('other', 4));
      ids = toEntries(entries).map((e) => e.id);
    } else {
      const all = (await redis.xpending(input, 'work', '-', '+', 4)) as [string][];
      ids = (await redis.xclaim(input, 'work', 'other', 0, ...all.map((r) => r[0]), 'JUSTID')) as string[];
    }
    assert.is(ids.length, 4);
    claimed = ids;
    const entries = new Map(toEntries((await redis.xrangeBuffer(input, '-', '+')) as [Buffer, Buffer[]][]).map((e) => [e.id, e]));
    const forwards = ids.map((id) => ({ id, targets: [out], fields: entries.get(id)!.fields }));
    await handOff(redis, { stream: input, group: 'work', fenceKey: keys.fence('work') }, forwards);

    release();
    await waitFor('the worker handed off its batch', async () => ((await redis.xpending(input, 'work')) as [number])[0] === 0);
  } finally {
    release();
    await worker.stop();
    await running;
  }
  const arrivals = await arrived();
  const suppressed = metrics.records.filter((r) => r.name === 'messages.duplicates_suppressed').reduce((n, r) => n + r.value, 0);
  const alreadyAcked = logs.filter((l) => l.event === 'handoff.already_acked');
  return { arrivals, processed: worker.consumer.processed, suppressed, alreadyAcked, claimedIds: claimed };
}

test('a consumer whose batch was partly claimed by another forwards only the rest: each record arrives once', async () => {
  const { arrivals, processed, suppressed, alreadyAcked, claimedIds } = await raceForTheBatch('claim-3.lua');
  assert.is(arrivals.size, 11, 'warm-up and the 10 held records');
  assert.equal(
    [...arrivals.values()].filter((n) => n !== 1),
    [],
    'no record arrived twice',
  );
  assert.is(processed, 1 + 6, 'the worker forwarded the warm-up and the 6 not claimed');
  assert.is(suppressed, 4, 'the 4 the other consumer had forwarded were suppressed');
  // Said at warn with the ids, so that a Redis restart that lost the group (which looks the same) can be told apart.
  assert.equal(
    alreadyAcked.map((l) => [l.level, l.count, l.ids]),
    [['warn', 4, claimedIds]],
  );
});

test('the fence survives a failover that lost a claim: a batch held across it, then partly claimed and forwarded by another consumer: each record arrives once', async () => {
  const { arrivals, processed } = await raceForTheBatch('claim-3.lua after a lost claim');
  assert.is(arrivals.size, 12, 'the earlier record, the warm-up and the 10 held records');
  assert.equal(
    [...arrivals.entries()].filter(([, n]) => n !== 1),
    [],
    'no record arrived twice',
  );
  assert.is(processed, 1 + 6, 'the worker forwarded the warm-up and the 6 not claimed');
});

test('control: the same race with a claim that bypasses the fence duplicates the claimed records', async () => {
  const { arrivals } = await raceForTheBatch('plain XCLAIM');
  assert.is([...arrivals.values()].filter((n) => n === 2).length, 4, 'why every claim must go through claim-3.lua');
});

test.run();
