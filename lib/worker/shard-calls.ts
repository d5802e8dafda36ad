/**
 * How a worker's shard loops call its stage's `process` (Stage.concurrentShards). With fusion (a
 * process of several stages, lib/worker/fusion.ts) a stage is called both by its own shard loops
 * and by the fused runs of the stage before it, from that stage's loop of the same shard: two
 * batches of one shard (records of one key in both) could then run at once, so calls are queued.
 */
import type { Stage } from './stage.js';

/** Calls run one after the other: each starts when the one before has settled. */
type CallQueue = <T>(work: () => Promise<T>) => Promise<T>;

function callQueue(): CallQueue {
  let tail: Promise<unknown> = Promise.resolve();
  return (work) => {
    const run = tail.then(work);
    tail = run.catch(() => undefined);
    return run;
  };
}

/**
 * `stage` as each of `shards` calls it, by shard. A stage that says `concurrentShards` (read at
 * each call: the store learns it from its sink, loaded in `init`) gets the shards' batches as they
 * come, at most one per shard at a time: queued per shard when `fused` (the process runs several
 * stages), else as they are (a shard's loop reads its next batch only after handing off the last).
 * Any other stage gets one batch at a time over all shards and fused runs (models, the match
 * stage's vector cache are written for that), when there are several shards or `fused`.
 */
export function shardCallers(stage: Stage, shards: readonly number[], fused: boolean): Map<number, Stage> {
  const all = fused || shards.length > 1 ? callQueue() : undefined;
  return new Map(
    shards.map((shard) => {
      const own = fused ? callQueue() : undefined;
      const call = (batch: Parameters<Stage['process']>[0]) => {
        const queue = stage.concurrentShards ? own : all;
        return queue ? queue(() => stage.process(batch)) : stage.process(batch);
      };
      return [shard, Object.create(stage, { process: { value: call } }) as Stage];
    }),
  );
}
