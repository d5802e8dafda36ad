/**
 * `pipeline reprocess --max-lag n` (lib/producer/backpressure.ts capMaxLag): reprocessing the store
 * is a bulk load like `produce`; with the cap it holds the target stage's backlog at n, under the
 * config's maxLag (the limit the HTTP API answers 429 at), says so (a "resumed" line only after
 * a wait it said), and ends once workers drain it.
 */
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfigFile } from '../../lib/config/load.js';
import { isIdle, pipelineStatus } from '../../lib/ops/inspect.js';
import { produce } from '../../lib/producer/producer.js';
import { Keys } from '../../lib/redis/keys.js';
import { STAGES } from '../../stages/index.js';
import { cli, exited, startWorkers, stopAll, writeConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);

test('reprocess --max-lag 4: the put-backs wait while validate is 4 behind (its maxLag is 100,000), saying --max-lag, then all go once workers drain', async () => {
  const pipeline = randomPipeline('rml');
  const file = writeConfig(pipeline);
  const config = loadConfigFile(file, { env: { REDIS_URL: server.url }, knownKinds: Object.keys(STAGES) });
  const keys = new Keys(pipeline);
  // 20 products with an mpn: each one's route went through validate.
  const lines = Array.from({ length: 20 }, (_, i) => JSON.stringify({ id: `m${i}`, title: `item ${i}`, mpn: `MX-${i}` }) + '\n');
  let workers = startWorkers(config);
  try {
    await produce(redis, Readable.from(lines), { stream: keys.stream('in'), source: 'test', maxRecordBytes: 65536 });
    await waitFor('20 stored', async () => (await redis.scard(keys.products)) === 20 && isIdle(await pipelineStatus(redis, config)));
  } finally {
    await stopAll(workers);
  }
  const run = cli(['--config', file, 'reprocess', '--from-stage', 'validate', '--batch', '4', '--max-lag', '4', '--backpressure-poll', '20'], server.url);
  await waitFor('held at --max-lag', () => /reprocess: waiting for stage validate: the input lag 8 is above --max-lag 4 /.test(run.output()), 20_000).catch(
    (e: Error) => {
      throw new Error(`${e.message}: ${run.output()}`);
    },
  );
  const validate = (await pipelineStatus(redis, config)).streams.find((s) => s.stage === 'validate');
  assert.is(validate?.group?.lag, 8, 'held at two batches of 4 (the second put back at a lag of 4, not above it)');
  workers = startWorkers(config);
  try {
    assert.is(await exited(run), 0, run.output());
    assert.match(run.output(), /"event":"reprocess.done".*"reprocessed":20/);
    // With the workers running and a cap of 1, most batches wait a moment: the first wait is said, the next ones within 5 s
    // are not, and neither is their end: each "resumed" line follows its "waiting" line.
    await waitFor('stored again', async () => isIdle(await pipelineStatus(redis, config)) && (await redis.exists(keys.reprocess('m0'))) === 0);
    const busy = cli(['--config', file, 'reprocess', '--from-stage', 'validate', '--batch', '2', '--max-lag', '1', '--backpressure-poll', '20'], server.url);
    assert.is(await exited(busy), 0, busy.output());
    assert.match(busy.output(), /"event":"reprocess.done".*"reprocessed":20/);
    const said = busy.output().match(/^reprocess: (waiting|resumed)/gm) ?? [];
    assert.ok(said.length >= 2, busy.output());
    said.forEach((l, i) => assert.is(l, i % 2 === 0 ? 'reprocess: waiting' : 'reprocess: resumed', `line ${i}: ${said.join(' | ')}`));
  } finally {
    await stopAll(workers);
  }
});

test.run();
