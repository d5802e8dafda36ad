/**
 * Pausing a stage (`pipeline pause`, lib/ops/pause.ts, lib/worker/pause-gate.ts) with real workers
 * on a real redis-server: the paused stage's consumer finishes the batch in hand and then processes
 * nothing (nothing more is added to the streams after it, its group's entries-read stays put while its lag
 * grows), its reclaimer claims nothing, its watchdog never reports a stall over several stall limits
 * (health passes with a note saying who paused it), `status` (table and --json) and `top` say
 * PAUSED; after `resume` the backlog drains: every record stored exactly once, nothing dead-lettered.
 */
import { Readable } from 'node:stream';
import { hostname } from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { createLogger } from '../../lib/observe/logger.js';
import { consumerHealth } from '../../lib/ops/consumer-health.js';
import { pauseStages, pausedStages, resumeStages } from '../../lib/ops/pause.js';
import { produce } from '../../lib/producer/producer.js';
import { consumerName, Keys } from '../../lib/redis/keys.js';
import { Worker } from '../../lib/worker/worker.js';
import { StageProcess } from '../../lib/worker/process.js';
import { resolveConfig } from '../../lib/config/load.js';
import type { PipelineConfig } from '../../lib/config/types.js';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { renderFrame, TopSampler } from '../../scripts/commands/top.js';
import { statusOutput } from '../../scripts/commands/status.js';
import { STAGES } from '../../stages/index.js';
import { cli, exited, FAST, rulesOnlyConfig, writeConfig } from '../helpers/pipeline.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';

const redisServer = await startRedis();
const redis = client(redisServer.url);
/** Short timers; the flag is read every 2500 ms, longer than the stall limit (blockMs + stallTimeoutMs = 2050 ms): the wait still proves progress. */
const TIMERS = { ...FAST, blockMs: 50, pausePollMs: 2500, watchdogIntervalMs: 100, aliveTtlMs: 400, stallTimeoutMs: 2000, claimMinIdleMs: 200, batchSize: 8 };
const LIMIT_MS = TIMERS.blockMs + TIMERS.stallTimeoutMs;
const WAIT_MS = 20_000;
const rulesOnlyRaw = (pipeline: string): PipelineConfig => ({
  ...(JSON.parse(readFileSync(resolve(import.meta.dirname, '../../config/rules-only.json'), 'utf8')) as PipelineConfig),
  pipeline,
});

async function produceRecords(config: ResolvedConfig, from: number, n: number): Promise<void> {
  const text = Array.from({ length: n }, (_, i) =>
    JSON.stringify({ id: `p${from + i}`, title: `Product ${from + i}`, ...(i % 2 ? { mpn: `M-${i}` } : {}) }),
  ).join('\n');
  await produce(redis, Readable.from([text]), { stream: new Keys(config.pipeline).stream(config.input), source: 'test', maxRecordBytes: 65536 });
}

/** XINFO GROUPS of a stream as {name → fields}. */
async function groupInfo(stream: string, group: string): Promise<Record<string, unknown>> {
  const groups = (await redis.xinfo('GROUPS', stream)) as unknown[][];
  for (const g of groups) {
    const m: Record<string, unknown> = {};
    for (let i = 0; i + 1 < g.length; i += 2) m[String(g[i])] = g[i + 1];
    if (m.name === group) return m;
  }
  throw new Error(`no group ${group} on ${stream}`);
}

test('pause a stage mid-run: nothing of it processed after the batch in hand, not stalled, PAUSED in status and top; resume drains, each record stored once', async () => {
  const pipeline = randomPipeline('pause');
  const config = rulesOnlyConfig(redisServer.url, pipeline, TIMERS);
  const keys = new Keys(pipeline);
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ stage: 'preprocess' }, 'info', (l) => lines.push(JSON.parse(l) as Record<string, unknown>));
  const workers = config.stages.map(
    (s) => new Worker({ config, stage: s.name, stages: STAGES, logger: s.name === 'preprocess' ? logger : createLogger({}, 'error', () => undefined) }),
  );
  for (const w of workers) w.run().catch((err) => console.error('worker failed', err));
  const pre = workers[0]!;
  const stored = () => redis.scard(keys.products);
  const health = () => consumerHealth(redis, config, 'preprocess', { host: hostname(), pid: process.pid });
  try {
    await produceRecords(config, 0, 20);
    await waitFor('the first 20 stored', async () => (await stored()) === 20, WAIT_MS);

    await pauseStages(redis, config, 'preprocess', { by: 'test', reason: 'maintenance' });
    await waitFor('the consumer says it paused', () => lines.some((l) => l.event === 'stage.paused'), WAIT_MS);
    const paused = lines.filter((l) => l.event === 'stage.paused');
    assert.is(paused.length, 1, JSON.stringify(paused));
    assert.is(paused[0]!.stage, 'preprocess');
    assert.is(paused[0]!.consumer, consumerName(hostname(), process.pid, 0));
    assert.is(paused[0]!.reason, 'maintenance');

    // Entries ever added (XINFO STREAM entries-added), not XLEN: the streams' acked entries are trimmed.
    const added = async (name: string) => {
      const info = (await redis.xinfo('STREAM', keys.stream(name))) as unknown[];
      return Number(info[info.indexOf('entries-added') + 1]);
    };
    const after = { validate: await added('validate'), store: await added('store') };
    // The line may come from the reclaimer's look at the flag while the read loop is in a blocking read
    // begun before the pause: let that read return (empty) before producing, or it takes some of the 30.
    await new Promise((r) => setTimeout(r, TIMERS.blockMs * 10));
    const pausedAt = Date.now();
    const stallsBefore = pre.consumer.watchdog.stalls;
    await produceRecords(config, 20, 30);
    await waitFor('the paused group lags by the 30 new records', async () => Number((await groupInfo(keys.stream('in'), 'preprocess')).lag) === 30, WAIT_MS);
    // A consumer that read 5 and died: its entries go idle past claimMinIdleMs, and the paused stage's reclaimer must leave them.
    await redis.xreadgroup('GROUP', 'preprocess', 'ghost', 'COUNT', 5, 'STREAMS', keys.stream('in'), '>');
    const readBefore = Number((await groupInfo(keys.stream('in'), 'preprocess'))['entries-read']);
    const ghostPending = async () => {
      const [, , , owners] = (await redis.xpending(keys.stream('in'), 'preprocess')) as [number, unknown, unknown, [string, string][] | null];
      return Number((owners ?? []).find(([name]) => name === 'ghost')?.[1] ?? 0);
    };

    // Several stall limits pass: the liveness record keeps being written, with `paused` on it.
    await waitFor(
      'the liveness record written three stall limits after the pause',
      async () => {
        const h = await health();
        assert.ok(h.ok, `a paused consumer is not stalled: ${JSON.stringify(h)}`);
        assert.is(await added('validate'), after.validate, 'nothing reached validate while paused');
        assert.is(await added('store'), after.store, 'nothing reached store while paused');
        assert.is(await ghostPending(), 5, "the dead consumer's entries stay where they are");
        return Number(h.progress?.at) > pausedAt + 3 * LIMIT_MS;
      },
      WAIT_MS,
      100,
    );
    const h = await health();
    assert.match(h.note ?? '', /^paused by test \d+ s ago: maintenance \(pipeline resume preprocess\)$/, JSON.stringify(h));
    assert.is((h.progress?.paused as { by?: string } | undefined)?.by, 'test');
    assert.is(pre.consumer.watchdog.stalls, stallsBefore, 'no stall over the pause');
    assert.is(Number((await groupInfo(keys.stream('in'), 'preprocess'))['entries-read']), readBefore, 'nothing read while paused');
    assert.is(pre.reclaimer.reclaimed, 0, 'nothing reclaimed while paused');
    assert.is(await stored(), 20);

    const table = (await statusOutput(redis, config)).text;
    assert.match(table, /\nPAUSED preprocess: paused by test \d+ s ago: maintenance\n/, table);
    const json = JSON.parse((await statusOutput(redis, config, true)).text) as { paused: Record<string, unknown>[] };
    assert.equal(
      json.paused.map(({ stage, by, reason }) => ({ stage, by, reason })),
      [{ stage: 'preprocess', by: 'test', reason: 'maintenance' }],
    );
    const frame = await new TopSampler(redis, config, 10).frame();
    assert.match(renderFrame(frame, 1000), /\nPAUSED preprocess: paused by test \d+ s ago: maintenance\n/);

    assert.equal(await resumeStages(redis, config, 'preprocess'), ['preprocess']);
    await waitFor('all 50 stored after resume', async () => (await stored()) === 50, WAIT_MS);
    assert.is(lines.filter((l) => l.event === 'stage.resumed').length, 1);
    const copies = await Promise.all(Array.from({ length: 50 }, (_, i) => redis.hget(keys.product(`p${i}`), 'copies')));
    assert.equal(
      copies.filter((c) => Number(c ?? 1) !== 1),
      [],
      'each record stored once',
    );
    assert.is(await redis.xlen(keys.dlq), 0, 'nothing dead-lettered');
    assert.equal([...(await pausedStages(redis, config)).keys()], []);
    assert.not.match((await statusOutput(redis, config)).text, /PAUSED/);
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
});

test('a worker started while its stage is paused takes nothing over, not even in the first reclaim pass at its start', async () => {
  const pipeline = randomPipeline('pstart');
  const config = rulesOnlyConfig(redisServer.url, pipeline, TIMERS);
  const stream = new Keys(pipeline).stream('in');
  // A consumer that read 5 and died before this worker starts: its entries idle past claimMinIdleMs, no alive key.
  await redis.xgroup('CREATE', stream, 'preprocess', '0', 'MKSTREAM');
  await produceRecords(config, 0, 5);
  await redis.xreadgroup('GROUP', 'preprocess', 'ghost', 'COUNT', 5, 'STREAMS', stream, '>');
  const ghost = async () => (await redis.xpending(stream, 'preprocess', 'IDLE', TIMERS.claimMinIdleMs, '-', '+', 10, 'ghost')).length;
  await waitFor("the ghost's 5 entries idle past claimMinIdleMs", async () => (await ghost()) === 5, WAIT_MS);
  await pauseStages(redis, config, 'preprocess', { by: 'test' });
  const worker = new Worker({ config, stage: 'preprocess', stages: STAGES, logger: createLogger({}, 'error', () => undefined) });
  const startedAt = Date.now();
  const run = worker.run().catch((err) => console.error('worker failed', err));
  try {
    await waitFor(
      'the liveness record written three reclaim intervals after the start',
      async () => {
        const h = await consumerHealth(redis, config, 'preprocess', { host: hostname(), pid: process.pid });
        return Number(h.progress?.at) > startedAt + 3 * config.stages[0]!.claimIntervalMs;
      },
      WAIT_MS,
    );
    assert.is(worker.reclaimer.reclaimed, 0, 'nothing reclaimed while paused');
    assert.is(await ghost(), 5, "the dead consumer's entries stay where they are");
  } finally {
    await worker.stop();
    await run;
  }
});

test('a paused stage runs nothing fused either: what the stage before it in its process routes to it goes through its stream and waits there', async () => {
  const pipeline = randomPipeline('pfuse');
  const raw = rulesOnlyRaw(pipeline);
  // The flag read every 250 ms: no stall limit is asserted here, and the pause and the resume each waited a read (2.5 s).
  const defaults = { ...TIMERS, pausePollMs: 250 };
  const config = resolveConfig({ ...raw, stages: raw.stages.map((s) => (s.name === 'store' ? s : { ...s, process: 'intake' })), defaults }, 'test', {
    env: { REDIS_URL: redisServer.url },
  });
  const keys = new Keys(pipeline);
  const quiet = createLogger({}, 'error', () => undefined);
  const intake = new StageProcess({ config, stages: ['preprocess', 'validate'], kinds: STAGES, logger: quiet });
  const store = new Worker({ config, stage: 'store', stages: STAGES, logger: quiet });
  const runs = [intake.run(), store.run()].map((p) => p.catch((err) => console.error('worker failed', err)));
  const validate = intake.workers.find((w) => w.stage.name === 'validate')!;
  const added = async (name: string) => {
    const info = (await redis.xinfo('STREAM', keys.stream(name))) as unknown[];
    return Number(info[info.indexOf('entries-added') + 1]);
  };
  try {
    await produceRecords(config, 0, 10);
    await waitFor('the first 10 stored', async () => (await redis.scard(keys.products)) === 10, WAIT_MS);
    const before = await added('validate');
    assert.is(before, 0, 'validate ran fused: nothing went through its stream');
    await pauseStages(redis, config, 'validate', { by: 'test' });
    await waitFor('validate paused', () => validate.consumer.paused !== undefined, WAIT_MS);
    const stored = await redis.scard(keys.products);
    await produceRecords(config, 10, 10); // half of them carry an mpn: preprocess routes those to validate
    await waitFor('preprocess read them all', async () => Number((await groupInfo(keys.stream('in'), 'preprocess')).lag) === 0, WAIT_MS);
    await waitFor('the five for validate wait in its stream', async () => (await added('validate')) === 5, WAIT_MS);
    await waitFor('the other five stored', async () => (await redis.scard(keys.products)) === stored + 5, WAIT_MS);
    assert.is(Number((await groupInfo(keys.stream('validate'), 'validate')).lag), 5, 'validate ran none of them');
    await resumeStages(redis, config, 'validate');
    await waitFor('all 20 stored after resume', async () => (await redis.scard(keys.products)) === 20, WAIT_MS);
  } finally {
    await Promise.all([intake.stop(), store.stop()]);
    await Promise.all(runs);
  }
});

test('pause all and resume all name every stage; an unknown stage is refused naming it', async () => {
  const config = rulesOnlyConfig(redisServer.url, randomPipeline('pall'), TIMERS);
  assert.equal(await pauseStages(redis, config, 'all', { by: 'test' }), ['preprocess', 'validate', 'store']);
  const flags = await pausedStages(redis, config);
  assert.equal([...flags.keys()], ['preprocess', 'validate', 'store']);
  assert.is(flags.get('store')!.reason, undefined);
  assert.equal(await resumeStages(redis, config, 'all'), ['preprocess', 'validate', 'store']);
  assert.equal(await resumeStages(redis, config, 'store'), [], 'not paused any more');
  try {
    await pauseStages(redis, config, 'nope', { by: 'test' });
    assert.unreachable('an unknown stage');
  } catch (err) {
    assert.match((err as Error).message, /no stage "nope" in this pipeline \(stages: preprocess, validate, store; or all\)/);
  }
});

test('a sharded pipeline has the flag on every shard, under its tag', async () => {
  const pipeline = randomPipeline('psh');
  const config = { ...rulesOnlyConfig(redisServer.url, pipeline, TIMERS), shards: 3 };
  await pauseStages(redis, config, 'validate', { by: 'test', reason: 'r' });
  for (const k of Keys.shards(pipeline, 3)) assert.is(await redis.hget(k.paused('validate'), 'reason'), 'r', k.tag);
  await resumeStages(redis, config, 'validate');
  for (const k of Keys.shards(pipeline, 3)) assert.is(await redis.exists(k.paused('validate')), 0, k.tag);
});

test('the CLI: pause with a reason, status --json shows it, resume, resume again says it was not paused, an unknown stage exits 1 naming it', async () => {
  const pipeline = randomPipeline('pcli');
  const configFile = writeConfig(pipeline, TIMERS);
  const run = async (...args: string[]) => {
    const child = cli(['--config', configFile, ...args], redisServer.url);
    const code = await exited(child);
    return { code, out: child.output() };
  };
  const paused = await run('pause', 'validate', '--reason', 'db migration');
  assert.is(paused.code, 0, paused.out);
  assert.match(paused.out, /^paused validate \(db migration\): its workers finish the batch in hand, then read nothing until `pipeline resume validate`$/m);
  const status = await run('status', '--json');
  assert.is(status.code, 0, status.out);
  const json = JSON.parse(status.out.split('\n').find((l) => l.startsWith('{'))!) as { paused: { stage: string; by: string; reason: string }[] };
  assert.is(json.paused.length, 1, status.out);
  assert.is(json.paused[0]!.stage, 'validate');
  assert.match(json.paused[0]!.by, /^cli:/);
  assert.is(json.paused[0]!.reason, 'db migration');
  const resumed = await run('resume', 'validate');
  assert.is(resumed.code, 0, resumed.out);
  assert.match(resumed.out, /^resumed validate$/m);
  const again = await run('resume', 'validate');
  assert.match(again.out, /^validate was not paused$/m);
  const unknown = await run('pause', 'nope');
  assert.is(unknown.code, 1, unknown.out);
  assert.match(unknown.out, /error: no stage "nope" in this pipeline \(stages: preprocess, validate, store; or all\)/);
});

test.after(async () => {
  redis.disconnect();
  await redisServer.close();
});

test.run();
