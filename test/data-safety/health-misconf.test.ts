import { hostname } from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { consumerHealth, progressKey } from '../../lib/ops/consumer-health.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { consumerName, Keys } from '../../lib/redis/keys.js';
import { Worker } from '../../lib/worker/worker.js';
import { STAGES } from '../../stages/index.js';
import { allowWrites, refuseWrites } from '../helpers/misconf.js';
import { cli, exited, FAST, rulesOnlyConfig, writeConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

/** `pipeline health` while Redis cannot persist (MISCONF): Redis is the finding, not the workers. */
const { server, redis } = await redisForFile(test);
const host = hostname();
const o = { ...FAST, blockMs: 50, watchdogIntervalMs: 50, stallTimeoutMs: 300 };

interface HealthLine {
  ok: boolean;
  stage: string;
  consumer?: string;
  reason?: string;
  redisRefusesWrites?: boolean;
}

async function probe(pipeline: string, extra: string[] = []): Promise<{ code: number | null; line: HealthLine; output: string }> {
  const run = cli(['--config', writeConfig(pipeline, o), 'health', '--stage', 'preprocess', '--pid', String(process.pid), ...extra], server.url);
  const code = await exited(run);
  const last = run.output().trim().split('\n').at(-1)!;
  return { code, line: JSON.parse(last) as HealthLine, output: run.output() };
}

test('health during a MISCONF that outlasts the progress marker names Redis first (what to do; the missing progress is the outage, not a stalled worker), exit 1, 0 with --unknown-ok; it passes once Redis saves again (before: "no progress marker ... the read loop stopped", exit 1 with --unknown-ok too)', async () => {
  const pipeline = randomPipeline('hm');
  const config = rulesOnlyConfig(server.url, pipeline, o);
  const worker = new Worker({ config, stage: 'preprocess', stages: STAGES, logger: silentLogger });
  const run = worker.run();
  const me = consumerName(host, process.pid, 0);
  const marker = progressKey(new Keys(pipeline), 'preprocess', me);
  try {
    await waitFor('progress marker', async () => (await redis.exists(marker)) === 1);
    const before = await probe(pipeline);
    assert.equal([before.code, before.line.ok], [0, true], before.output);

    await refuseWrites(redis);
    // The worker holds and cannot beat (its liveness record is a write): the marker lapses.
    await waitFor('the marker lapsed during the outage', async () => (await redis.exists(marker)) === 0, 10_000);
    const ready = await probe(pipeline);
    const live = await probe(pipeline, ['--unknown-ok']);
    assert.is(ready.code, 1, ready.output);
    assert.is(live.code, 0, `a liveness probe passes: restarting the worker would not help\n${live.output}`);
    for (const { line, output } of [ready, live]) {
      assert.equal([line.stage, line.consumer, line.redisRefusesWrites], ['preprocess', me, true], output);
      assert.match(line.reason!, /^Redis refuses every write: it cannot persist to disk .*\[MISCONF /, 'Redis, first');
      assert.match(line.reason!, 'free the disk or fix what failed the save (the Redis log names it), then `BGSAVE`');
      assert.match(line.reason!, '`CONFIG SET stop-writes-on-bgsave-error no`');
      assert.match(line.reason!, `consumer ${me} shows no progress because of this outage, not because its worker stalled`);
      assert.not.match(line.reason!, /read loop stopped/, 'not reported as a stalled worker');
    }

    await allowWrites(redis);
    await waitFor(
      'health passes once writes are taken',
      async () => (await consumerHealth(redis, config, 'preprocess', { host, pid: process.pid })).ok,
      15_000,
    );
    const after = await probe(pipeline);
    assert.equal([after.code, after.line.ok, after.line.redisRefusesWrites], [0, true, undefined], after.output);
  } finally {
    await allowWrites(redis);
    await worker.stop();
    await run;
  }
});

test('health during a MISCONF while the marker is still alive says Redis first and that the consumer holds its batch', async () => {
  const pipeline = randomPipeline('hm');
  // A stall limit longer than the outage below: the marker is still alive when health asks.
  const config = rulesOnlyConfig(server.url, pipeline, { ...o, stallTimeoutMs: 60_000 });
  const worker = new Worker({ config, stage: 'preprocess', stages: STAGES, logger: silentLogger });
  const run = worker.run();
  const me = consumerName(host, process.pid, 0);
  try {
    await waitFor('progress marker', async () => (await redis.exists(progressKey(new Keys(pipeline), 'preprocess', me))) === 1);
    await refuseWrites(redis);
    const h = await consumerHealth(redis, config, 'preprocess', { host, pid: process.pid });
    assert.equal([h.ok, h.redisRefusesWrites, h.consumer], [false, true, me], JSON.stringify(h));
    assert.match(h.reason!, /^Redis refuses every write/);
    assert.match(h.reason!, `consumer ${me} holds its batch`);
  } finally {
    await allowWrites(redis);
    await worker.stop();
    await run;
  }
});

test.run();
