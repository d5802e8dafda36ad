/**
 * How a worker's shard loops call its stage (lib/worker/shard-calls.ts): one batch at a time over
 * the shards, unless the stage says `concurrentShards`; then one per shard at most, also when the
 * stage runs fused in a process of several stages (its own loop and the fused runs of the stage
 * before it call it for the same shard).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { sleep } from '../../lib/core/backoff.js';
import { newEnvelope, type Message } from '../../lib/stream/codec.js';
import { shardCallers } from '../../lib/worker/shard-calls.js';
import { ok, type Stage } from '../../lib/worker/stage.js';

/** A stage that counts the batches in it at once, overall and of one shard (a batch's key is its shard's number). */
function probe(concurrentShards: boolean) {
  const active = new Map<string, number>();
  const seen = { most: 0, mostOfOneShard: 0 };
  const stage: Stage & { concurrentShards: boolean } = {
    kind: 'probe',
    sink: true,
    concurrentShards,
    async process(batch) {
      const shard = batch[0]!.envelope.key;
      active.set(shard, (active.get(shard) ?? 0) + 1);
      seen.mostOfOneShard = Math.max(seen.mostOfOneShard, active.get(shard)!);
      seen.most = Math.max(
        seen.most,
        [...active.values()].reduce((n, x) => n + x, 0),
      );
      await sleep(20);
      active.set(shard, active.get(shard)! - 1);
      return batch.map(() => ok({}));
    },
  };
  return { stage, seen };
}

const batchOf = (shard: number): Message[] => [{ id: '1-0', stream: 's', envelope: newEnvelope({ id: String(shard), title: 't' }) }];

/** Two calls per shard at once on each of `shards` (a shard's loop and a fused run of the stage before it). */
async function callTwicePerShard(stage: Stage, shards: number[], fused: boolean): Promise<void> {
  const callers = shardCallers(stage, shards, fused);
  await Promise.all(shards.flatMap((s) => [callers.get(s)!.process(batchOf(s)), callers.get(s)!.process(batchOf(s))]));
}

test('fused, a stage that says concurrentShards: the shards’ batches at once, one per shard at most', async () => {
  const { stage, seen } = probe(true);
  await callTwicePerShard(stage, [0, 1, 2, 3], true);
  assert.is(seen.most, 4, 'one batch of each shard at once');
  assert.is(seen.mostOfOneShard, 1, 'never two batches of one shard at once');
});

test('fused or several shards, a stage that does not say it: one batch at a time over all shards', async () => {
  for (const [shards, fused] of [
    [[0, 1, 2, 3], true],
    [[0, 1, 2, 3], false],
    [[0], true],
  ] as const) {
    const { stage, seen } = probe(false);
    await callTwicePerShard(stage, [...shards], fused);
    assert.is(seen.most, 1, `never two batches at once (shards ${shards.join(',')}, fused ${fused})`);
  }
});

test('alone, a stage that says concurrentShards gets each call as it comes (its shard loop calls it once at a time)', async () => {
  const { stage, seen } = probe(true);
  await callTwicePerShard(stage, [0, 1], false);
  assert.is(seen.most, 4, 'every call at once: nothing queued');
});

test('concurrentShards is read at each call: a stage that learns it in init (a store from its sink) runs shards at once from then on', async () => {
  const { stage, seen } = probe(false);
  const callers = shardCallers(stage, [0, 1, 2, 3], true);
  stage.concurrentShards = true;
  await Promise.all([0, 1, 2, 3].map((s) => callers.get(s)!.process(batchOf(s))));
  assert.is(seen.most, 4, 'the shards’ batches at once once the stage says it');
});

test.run();
