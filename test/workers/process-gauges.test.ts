/** Worker processes send their memory, CPU and event-loop delay; a stage that blocks the loop shows in them. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { ProcessStats } from '../../lib/observe/process-stats.js';
import { Keys } from '../../lib/redis/keys.js';
import { encodeEnvelope, newEnvelope } from '../../lib/stream/codec.js';
import { ok, type StageFactory } from '../../lib/worker/stage.js';
import { StageProcess } from '../../lib/worker/process.js';
import { STAGES } from '../../stages/index.js';
import { FAST, stageThenStore } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';
import { listener } from '../helpers/statsd.js';

const { server, redis } = await redisForFile(test);

const busy = (ms: number) => {
  const until = performance.now() + ms;
  while (performance.now() < until);
};

test('ProcessStats: a synchronous 150 ms block is the interval’s worst event-loop delay; the next interval starts clean', async () => {
  const stats = new ProcessStats(5);
  await new Promise((r) => setTimeout(r, 30));
  busy(150);
  await new Promise((r) => setTimeout(r, 30));
  const s = stats.sample();
  assert.ok(s.eventLoopMaxMs >= 140 && s.eventLoopMaxMs < 1000, `max ${s.eventLoopMaxMs}`);
  assert.ok(s.rssMb > 10 && s.heapUsedMb > 1 && s.cpuPercent > 0, JSON.stringify(s));
  await new Promise((r) => setTimeout(r, 60));
  const quiet = stats.sample();
  assert.ok(quiet.eventLoopMaxMs < 100, `after a reset: ${quiet.eventLoopMaxMs}`);
  stats.close();
});

test('ProcessStats: a block that starts right after a sample is reported in the next one (it read 5 ms with a reset perf_hooks histogram)', async () => {
  const stats = new ProcessStats(5);
  await new Promise((r) => setTimeout(r, 30));
  stats.sample();
  busy(150);
  await new Promise((r) => setTimeout(r, 30));
  const s = stats.sample();
  assert.ok(s.eventLoopMaxMs >= 130 && s.eventLoopMaxMs < 1000, `max ${s.eventLoopMaxMs}`);
  // And a block that ends just before a sample counts once, not again in the interval after it.
  busy(120);
  const ended = stats.sample();
  assert.ok(ended.eventLoopMaxMs >= 100, `max ${ended.eventLoopMaxMs}`);
  await new Promise((r) => setTimeout(r, 40));
  assert.ok(stats.sample().eventLoopMaxMs < 60, 'counted twice');
  stats.close();
});

test('a worker process with metrics on sends process.* under each of its stages, tagged with its consumer', async () => {
  const statsd = await listener();
  const pipeline = randomPipeline('pg');
  const metrics = { enabled: true, host: '127.0.0.1', port: statsd.port, flushIntervalMs: 20, gaugeIntervalMs: 150 };
  const config = resolveConfig(stageThenStore(pipeline, { name: 'slow', kind: 'slow' }, FAST, { metrics }), 'test', { env: { REDIS_URL: server.url } });
  // Each batch blocks the one JS thread both stages share for 250 ms, as a long synchronous model call would.
  const slow: StageFactory = () => ({
    kind: 'slow',
    process: async (batch) => {
      busy(250);
      return batch.map(() => ok({}));
    },
  });
  const proc = new StageProcess({ config, stages: ['slow', 'store'], kinds: { ...STAGES, slow }, logger: silentLogger });
  const run = proc.run();
  const keys = new Keys(pipeline);
  try {
    await redis.xadd(keys.stream('in'), '*', 'k', 'a', 'e', encodeEnvelope(newEnvelope({ id: 'a', title: 't' })));
    await waitFor('stored', async () => (await redis.scard(keys.products)) === 1, 10_000);
    const max = () => statsd.lines.filter((l) => l.name === 'process.event_loop_max_ms');
    await waitFor('the stall reported', () => max().some((l) => l.value >= 200), 5_000);
    const stall = max().find((l) => l.value >= 200)!;
    assert.ok(stall.tags.consumer && stall.tags.consumer.includes(String(process.pid)), JSON.stringify(stall.tags));
    assert.ok(
      ['slow', 'store'].every((stage) => max().some((l) => l.tags.stage === stage && l.value >= 200)),
      'the stall shows under both stages of the process',
    );
    const rss = statsd.lines.find((l) => l.name === 'process.rss_mb');
    assert.ok(rss && rss.value > 10, `rss ${rss?.value}`);
  } finally {
    await proc.stop();
    await run;
    statsd.socket.close();
  }
});

test.run();
