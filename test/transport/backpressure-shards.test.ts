/**
 * Backpressure on a sharded pipeline (config `shards` > 1): `limits.maxLag` applies to each shard's
 * input, and every message names the shard. `pipeline produce` had read shard 0 alone: a shard held
 * behind was never waited on, and the lag it printed was shard 0's, unnamed, while `pipeline status`
 * showed the total. `worker.started` also left out `shards` for a worker of shard 0 alone.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Backpressure, describe } from '../../lib/producer/backpressure.js';
import { ShardedBackpressure } from '../../lib/producer/backpressure-shards.js';
import { Keys } from '../../lib/redis/keys.js';
import { shardOf } from '../../lib/redis/shard.js';
import { cli, exited, rulesOnlyConfig, writeConfig } from '../helpers/pipeline.js';
import { addEntries, randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);

const addN = (stream: string, n: number) => addEntries(redis, stream, n);

test('each shard is read against maxLag on its own; the reading and its message name the shard behind, with its own lag', async () => {
  const pipeline = randomPipeline();
  const config = { ...rulesOnlyConfig(server.url, pipeline), shards: 3 };
  for (const s of config.stages) s.maxLag = 10;
  const shards = Keys.shards(pipeline, 3);
  await addN(shards[0]!.stream('in'), 4);
  await addN(shards[1]!.stream('in'), 12); // shard 1 held behind; 4 + 12 + 4 = 20 in all
  await addN(shards[2]!.stream('in'), 4);
  const bp = ShardedBackpressure.forInput(redis, config, shards, 0, 0);
  const p = await bp.check();
  assert.equal([p.clear, p.reason, p.stage, p.lag, p.maxLag, p.shard?.index, p.shard?.of], [false, 'lag', 'preprocess', 12, 10, 1, 3]);
  assert.is(describe(p), `shard 1 of 3 ({${pipeline}:1}): the input lag 12 is above limits.maxLag 10, which applies to each shard`);
  // One shard's own Backpressure (DLQ replay, reprocess) names it too.
  const one = await Backpressure.forInput(redis, config, shards[1]!, 0, 0).check();
  assert.match(describe(one), new RegExp(`^shard 1 of 3 \\(\\{${pipeline}:1\\}\\): the input lag 12`));
  await redis.xtrim(shards[1]!.stream('in'), 'MAXLEN', 0);
  assert.is((await bp.check()).clear, true, 'clear once that shard drained');
  // Unsharded: no shard in the reading or the message (as before).
  const plain = await Backpressure.forInput(redis, rulesOnlyConfig(server.url, randomPipeline()), new Keys(randomPipeline()), 0, 0).check();
  assert.is(plain.shard, undefined);
  assert.not.match(describe(plain), /shard/);
});

test('pipeline produce on 3 shards holds shard 1 alone while it is behind, naming it, the other shards going on (its own lane), and sends its records once it drains (shard 0 alone had been read)', async () => {
  const pipeline = randomPipeline();
  const shards = Keys.shards(pipeline, 3);
  const config = writeConfig(pipeline, undefined, { shards: 3, limits: { maxLag: 50 } });
  await addN(shards[1]!.stream('in'), 60);
  const lines = Array.from({ length: 90 }, (_, i) => JSON.stringify({ id: `s${i}`, title: `item ${i}` })).join('\n');
  const child = cli(['produce', '--config', config, '--batch', '30', '--backpressure-poll', '20', '--rejects', '/dev/null'], server.url, { input: lines });
  const said = new RegExp(`waiting: shard 1 of 3 \\(\\{${pipeline}:1\\}\\): the input lag 60 is above limits.maxLag 50, which applies to each shard`);
  try {
    await waitFor('the producer to wait, naming shard 1', () => said.test(child.output()) || child.exitCode !== null, 20_000).catch((e: Error) => {
      throw new Error(e.message + ': ' + child.output());
    });
    assert.match(child.output(), said, child.output());
    // Each shard has its own lane (lib/producer/lane.ts): shards 0 and 2 get all their records while shard 1 waits.
    const want = [0, 2].map((n) => Array.from({ length: 90 }, (_, i) => `s${i}`).filter((id) => shardOf(id, 3) === n).length);
    await waitFor(
      'shards 0 and 2 fed while shard 1 is behind',
      async () => {
        const lens = await Promise.all([0, 2].map((i) => redis.xlen(shards[i]!.stream('in'))));
        return lens[0] === want[0] && lens[1] === want[1];
      },
      20_000,
    );
    assert.is(await redis.xlen(shards[1]!.stream('in')), 60, 'nothing produced to shard 1 while it is behind');
    await redis.xtrim(shards[1]!.stream('in'), 'MAXLEN', 0);
    assert.is(await exited(child), 0, child.output());
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
  assert.match(child.output(), /resumed after/);
  const lens = await Promise.all(shards.map((k) => redis.xlen(k.stream('in'))));
  assert.is(lens[0]! + lens[1]! + lens[2]!, 90);
});

test('worker.started names its shards also when the worker reads shard 0 alone (it had been left out, as if unsharded)', async () => {
  const pipeline = randomPipeline();
  const config = writeConfig(pipeline, undefined, { shards: 3 });
  const w = cli(['worker', 'preprocess', '--config', config, '--shards', '0'], server.url);
  try {
    await waitFor('worker.started', () => w.output().includes('"worker.started"') || w.exitCode !== null, 30_000).catch((e: Error) => {
      throw new Error(e.message + ': ' + w.output());
    });
    const line = w
      .output()
      .split('\n')
      .find((l) => l.includes('"worker.started"'));
    assert.ok(line, w.output());
    assert.equal((JSON.parse(line) as { shards?: number[] }).shards, [0]);
  } finally {
    w.kill('SIGTERM');
    await exited(w);
  }
});

test.run();
