/**
 * The autoscaler and a stage's `rateLimit` (lib/ops/rate-bound.ts): a stage whose lag is high
 * because its limit is used up by the workers it has gets no more workers ('rate_bound'); the same
 * stage with no limit, or a limit its workers do not reach, scales up; rate-bound never blocks
 * 'below_min', 'wake' or scaling down. decide() pure, then a real Autoscaler over real workers on
 * a real redis-server with a fake ScaleTarget.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Autoscaler, decide, type ScalePolicy, type ScaleState } from '../../lib/ops/autoscaler.js';
import { lagBuckets, type BucketSample } from '../../lib/ops/rate-bound.js';
import { pipelineStatus } from '../../lib/ops/inspect.js';
import { resolveConfig } from '../../lib/config/load.js';
import type { RateLimit } from '../../lib/config/rate-limit.js';
import { createLogger, silentLogger } from '../../lib/observe/logger.js';
import { memoryMetrics } from '../../lib/observe/metrics.js';
import { Keys } from '../../lib/redis/keys.js';
import { encodeEnvelope, newEnvelope } from '../../lib/stream/codec.js';
import { ok, type StageFactory } from '../../lib/worker/stage.js';
import { Worker } from '../../lib/worker/worker.js';
import { FAST } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);

const policy: ScalePolicy = { minWorkers: 1, maxWorkers: 3, scaleUpLag: 100, scaleUpAfterMs: 1000, scaleDownIdleMs: 5000 };
/** 10 per 100 ms: 100 per 1000 ms window. */
const bucket = (used: number, key = 'b0'): BucketSample => ({ stage: 'work', key, used, records: 10, perMs: 100 });
const high = (workers: number, buckets?: BucketSample[]) => ({ lag: 5000, pending: 10, workers, buckets });

test('decide: a window in which the lagging stage took its whole limit adds no worker (rate_bound), each window judged on its own', () => {
  const st: ScaleState = {};
  assert.equal(decide(policy, st, high(1, [bucket(0)]), 0), { to: 1, reason: 'hold' });
  assert.equal(decide(policy, st, high(1, [bucket(100)]), 1000), { to: 1, reason: 'rate_bound' }, '100 of 100 in the window');
  assert.is(st.rateBound, true);
  assert.equal(decide(policy, st, high(1, [bucket(150)]), 1500), { to: 1, reason: 'hold' }, 'mid-window');
  assert.is(st.rateBound, true, 'still bound mid-window');
  assert.equal(decide(policy, st, high(1, [bucket(191)]), 2000), { to: 1, reason: 'rate_bound' }, '91 of 100: at least 90 %');
  assert.equal(decide(policy, st, high(1, [bucket(250)]), 3000), { to: 2, reason: 'lag_high' }, '59 of 100: the workers are the bottleneck');
  assert.is(st.rateBound, false);
});

test('decide: a limit not reached, a stage without one, a bucket not seen when the window began or whose count went down (expired): lag_high as before', () => {
  const slow: ScaleState = {};
  decide(policy, slow, high(1, [bucket(0)]), 0);
  assert.equal(decide(policy, slow, high(1, [bucket(30)]), 1000), { to: 2, reason: 'lag_high' });
  const unlimited: ScaleState = {};
  decide(policy, unlimited, high(1), 0);
  assert.equal(decide(policy, unlimited, high(1), 1000), { to: 2, reason: 'lag_high' });
  const late: ScaleState = {};
  decide(policy, late, high(1), 0);
  assert.equal(decide(policy, late, high(1, [bucket(500)]), 1000), { to: 2, reason: 'lag_high' }, 'no count at the start: not known to be used up');
  const expired: ScaleState = {};
  decide(policy, expired, high(1, [bucket(900)]), 0);
  assert.equal(decide(policy, expired, high(1, [bucket(100)]), 1000), { to: 2, reason: 'lag_high' });
  const shards: ScaleState = {};
  decide(policy, shards, high(1, [bucket(0, 's0'), bucket(0, 's1')]), 0);
  assert.equal(
    decide(policy, shards, high(1, [bucket(100, 's0'), bucket(20, 's1')]), 1000),
    { to: 2, reason: 'lag_high' },
    'one lagging shard whose bucket is not used up: more workers help it',
  );
});

test("decide: rate-bound never blocks 'below_min', 'wake' or scaling down, and a dip in the lag ends it", () => {
  const bound = (): ScaleState => {
    const st: ScaleState = {};
    decide(policy, st, high(2, [bucket(0)]), 0);
    assert.equal(decide(policy, st, high(2, [bucket(100)]), 1000).reason, 'rate_bound');
    return st;
  };
  assert.equal(decide(policy, bound(), high(0, [bucket(200)]), 1100), { to: 1, reason: 'below_min' });
  assert.equal(decide({ ...policy, minWorkers: 0 }, bound(), high(0, [bucket(200)]), 1100), { to: 1, reason: 'wake' });
  const idle = bound();
  assert.equal(decide(policy, idle, { lag: 0, pending: 0, workers: 2 }, 1100), { to: 2, reason: 'hold' });
  assert.is(idle.rateBound, false, 'no lag: no longer rate-bound');
  assert.equal(decide(policy, idle, { lag: 0, pending: 0, workers: 2 }, 6100), { to: 1, reason: 'idle' });
  const above = bound();
  assert.equal(decide(policy, above, high(4, [bucket(200)]), 1100), { to: 3, reason: 'above_max' });
});

const pipelines: string[] = [];

/** A stage `work` (batches of `batchSize`, ~5 ms each) with a backlog of `backlog` records. */
async function backlogged(rateLimit: RateLimit | undefined, backlog: number, batchSize = 2) {
  const pipeline = randomPipeline('asr');
  pipelines.push(pipeline);
  const keys = new Keys(pipeline);
  const scaling = { minWorkers: 1, maxWorkers: 3, scaleUpLag: 100, scaleUpAfterMs: 1500, autoscaleIntervalMs: 100 };
  const config = resolveConfig(
    {
      pipeline,
      input: 'in',
      streams: { terminal: ['out'] },
      defaults: { ...FAST, batchSize, rateLimitMaxWaitMs: 100 },
      stages: [{ name: 'work', kind: 'quick', input: 'in', ...scaling, ...(rateLimit ? { rateLimit } : {}) }],
      routes: { work: [{ to: 'out' }] },
    },
    'test',
    { env: { REDIS_URL: server.url } },
  );
  const p = redis.pipeline();
  for (let i = 0; i < backlog; i++) p.xadd(keys.stream('in'), '*', 'k', `p${i}`, 'e', encodeEnvelope(newEnvelope({ id: `p${i}`, title: `item ${i}` })));
  await p.exec();
  return config;
}

const quick: StageFactory = () => ({
  kind: 'quick',
  process: async (batch) => {
    await sleep(5);
    return batch.map(() => ok({ passed: true }));
  },
});

/** One real worker of `work` and a real Autoscaler (a fake target: it counts, starts nothing) for `ms`. */
async function autoscaleFor(config: ReturnType<typeof resolveConfig>, ms: number) {
  const worker = new Worker({ config, stage: 'work', stages: { quick }, index: 0, logger: silentLogger });
  const running = worker.run();
  const scaled: number[] = [];
  const target = { count: () => 1, scale: (_unit: string, n: number) => void scaled.push(n) };
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({}, 'info', (l) => lines.push(JSON.parse(l) as Record<string, unknown>));
  const metrics = memoryMetrics();
  const autoscaler = new Autoscaler({ redis, config, stages: ['work'], target, logger, metrics });
  autoscaler.start();
  try {
    await sleep(ms);
  } finally {
    await autoscaler.stop();
    await worker.stop();
    await running;
  }
  return { scaled, lines, metrics, processed: worker.consumer.processed };
}

test('end to end: a stage whose one worker takes its whole rateLimit (100/s) under a high lag gets no second worker; said once (autoscale.rate_bound), gauged', async () => {
  // Batches of 10: one worker could do several times the limit even on a loaded machine, so the limit is what holds it.
  const config = await backlogged({ records: 20, perMs: 200 }, 3000, 10);
  const { scaled, lines, metrics, processed } = await autoscaleFor(config, 5000);
  assert.ok(processed >= 300 && processed <= 700, `the worker ran at the limit (~100/s + a burst of 20 over 5 s): ${processed}`);
  assert.equal(scaled, [], 'three scale-up windows at the limit: no worker added');
  const said = lines.filter((l) => l.event === 'autoscale.rate_bound');
  assert.is(said.length, 1, 'said once, not every pass');
  assert.is(lines.filter((l) => l.event === 'autoscale.rate_unbound').length, 0, 'still bound: not said to end');
  assert.equal([said[0]!.stage, said[0]!.workers, said[0]!.limit], ['work', 1, [{ stage: 'work', records: 20, perMs: 200 }]]);
  assert.ok(Number(said[0]!.lag) >= 100, 'with the lag');
  assert.ok(
    metrics.records.some((r) => r.name === 'autoscale.rate_bound' && r.tags.stage === 'work' && r.value === 1),
    'the gauge says it',
  );
});

test('end to end: the same stage without a limit (or with one its worker does not reach) scales up on its lag', async () => {
  const free = await autoscaleFor(await backlogged(undefined, 3000), 2500);
  assert.ok(free.scaled.length >= 1 && free.scaled[0] === 2, `no limit: scaled up: ${JSON.stringify(free.scaled)}`);
  assert.equal(
    free.lines.filter((l) => String(l.event).startsWith('autoscale.rate_')),
    [],
    'never bound: neither said to start nor to end',
  );
  const loose = await autoscaleFor(await backlogged({ records: 100_000, perMs: 1000 }, 3000), 2500);
  assert.ok(loose.scaled.length >= 1 && loose.scaled[0] === 2, `a limit far above what one worker does: scaled up: ${JSON.stringify(loose.scaled)}`);
  assert.is(loose.lines.filter((l) => l.event === 'autoscale.rate_bound').length, 0);
});

test("sharded (shards: 3): each shard's own bucket is read, only where the stage has lag; a lagging stage without a limit means none (more workers help it)", async () => {
  const pipeline = randomPipeline('asrs');
  const raw = (rateLimit?: RateLimit) => ({
    pipeline,
    shards: 3,
    input: 'in',
    streams: { terminal: ['out'] },
    stages: [{ name: 'work', kind: 'quick', input: 'in', ...(rateLimit ? { rateLimit } : {}) }],
    routes: { work: [{ to: 'out' }] },
  });
  const config = resolveConfig(raw({ records: 5, perMs: 1000 }), 'test', { env: { REDIS_URL: server.url } });
  const [k0, k1, k2] = Keys.shards(pipeline, 3);
  for (const k of [k0!, k2!]) for (let i = 0; i < 3; i++) await redis.xadd(k.stream('in'), '*', 'k', `p${i}`, 'e', 'x');
  await redis.xgroup('CREATE', k1!.stream('in'), 'work', '$', 'MKSTREAM');
  await redis.hset(k2!.rateLimit('work'), 't', '0', 'ts', '1', 'n', '42');
  const status = await pipelineStatus(redis, config);
  const buckets = await lagBuckets(redis, config, ['work'], status, 5);
  assert.equal(buckets, [
    { stage: 'work', key: k0!.rateLimit('work'), records: 5, perMs: 1000, used: 0 },
    { stage: 'work', key: k2!.rateLimit('work'), records: 5, perMs: 1000, used: 42 },
  ]);
  assert.is(await lagBuckets(redis, config, ['work'], status, 7), undefined, 'a lag of 6 under scaleUpLag 7: no stage lags');
  const unlimited = resolveConfig(raw(), 'test', { env: { REDIS_URL: server.url } });
  assert.is(await lagBuckets(redis, unlimited, ['work'], status, 5), undefined);
});

test.run();
