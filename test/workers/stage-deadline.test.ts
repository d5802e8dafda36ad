import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import { createLogger, silentLogger } from '../../lib/observe/logger.js';
import { memoryMetrics } from '../../lib/observe/metrics.js';
import { produce } from '../../lib/producer/producer.js';
import { isLivenessMarker, Keys } from '../../lib/redis/keys.js';
import { ok, type StageFactory } from '../../lib/worker/stage.js';
import { Worker } from '../../lib/worker/worker.js';
import { BIN, exited, FAST, oneStageToOut, outageStage, stageThenStore } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);
/** The liveness markers of stage `work` (not their registrations). */
const markers = async (keys: Keys): Promise<string[]> => (await redis.keys(keys.liveness('work', '*'))).filter(isLivenessMarker);

/** A stage whose call never returns (until `release`) for a batch holding the record titled "hang", as a native inference stuck on one input. */
function hangingGate(): { gate: StageFactory; release: () => void } {
  let release!: () => void;
  const forever = new Promise<void>((r) => (release = r));
  const gate: StageFactory = () => ({
    kind: 'gate',
    async process(batch) {
      if (batch.some((m) => m.envelope.input.title === 'hang')) await forever;
      return batch.map(() => ok({ passed: true }));
    },
  });
  return { gate, release };
}

test('a stage call that never returns is abandoned at stageTimeoutMs, counted, retried and dead-lettered; the rest of its batch is stored; the liveness marker stops while the call hangs and comes back when it returns', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  const { gate, release } = hangingGate();
  const raw = oneStageToOut(pipeline, 'gate', {
    ...FAST,
    batchSize: 10,
    maxDeliveries: 2,
    stageTimeoutMs: 300,
    keepClaimedMs: 100,
    claimMinIdleMs: 600_000,
    stallTimeoutMs: 400,
    watchdogIntervalMs: 50,
  });
  const metrics = memoryMetrics();
  const worker = new Worker({
    config: resolveConfig(raw, 'test', { env: { REDIS_URL: server.url } }),
    stage: 'work',
    stages: { gate },
    logger: silentLogger,
    metrics,
  });
  const running = worker.run();
  const liveness = async () => (await markers(keys)).length;
  const count = (name: string) => metrics.records.filter((r) => r.name === name).reduce((n, r) => n + r.value, 0);
  try {
    await waitFor('worker live', async () => (await liveness()) === 1);
    const lines = ['a', 'b', 'hang', 'c', 'd'].map((t, i) => JSON.stringify({ id: `r${i}`, title: t }));
    await produce(redis, Readable.from([lines.join('\n')]), { stream: keys.stream('in'), source: 'test', maxRecordBytes: 65536 });
    await waitFor(
      'the hanging record dead-lettered, the others forwarded',
      async () => (await redis.xlen(keys.dlq)) === 1 && (await redis.xlen(keys.stream('out'))) === 4,
      15_000,
    );
    const dl = (await redis.xrange(keys.dlq, '-', '+'))[0]![1];
    assert.is(dl[dl.indexOf('k') + 1], 'r2');
    assert.is(dl[dl.indexOf('reason') + 1], 'max_deliveries');
    assert.match(dl[dl.indexOf('error') + 1]!, /stageTimeoutMs/);
    assert.ok(count('stage.timeouts') >= 2, 'each abandoned call counted');
    assert.is(((await redis.xpending(keys.stream('in'), 'work')) as [number])[0], 0, 'nothing left pending: the hung entries are no longer kept alive');
    // The abandoned calls still hang: the process cannot recover them, so the probe goes red although the loop reads on.
    await waitFor('liveness marker gone', async () => (await liveness()) === 0, 10_000);
    assert.ok(worker.consumer.stuckSince !== undefined);
    release();
    await waitFor('liveness marker back once the calls returned', async () => (await liveness()) === 1, 10_000);
  } finally {
    release();
    await worker.stop();
    await running;
  }
  const out = (await redis.xrange(keys.stream('out'), '-', '+')).map(([, f]) => f[1]);
  assert.equal(out.sort(), ['r0', 'r1', 'r3', 'r4'], 'every other record forwarded once');
});

test('after one message of a batch hangs alone, the rest "not run" are counted in messages.deferred and logged at warn/info naming it, not in messages.errors or messages.retries (before: an error each); they are still retried without a delivery counted', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  const { gate, release } = hangingGate();
  const raw = oneStageToOut(pipeline, 'gate', { ...FAST, batchSize: 10, maxDeliveries: 2, stageTimeoutMs: 300, keepClaimedMs: 100, claimMinIdleMs: 600_000 });
  const metrics = memoryMetrics();
  const logs: string[] = [];
  const logger = createLogger({}, 'info', (l) => logs.push(l));
  const worker = new Worker({ config: resolveConfig(raw, 'test', { env: { REDIS_URL: server.url } }), stage: 'work', stages: { gate }, logger, metrics });
  const running = worker.run();
  const count = (name: string) => metrics.records.filter((r) => r.name === name).reduce((n, r) => n + r.value, 0);
  const events = (event: string) => logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.event === event);
  try {
    // One batch: "a" runs alone fine, "hang" hangs alone, "b", "c", "d" are not run this time.
    const lines = ['a', 'hang', 'b', 'c', 'd'].map((t, i) => JSON.stringify({ id: `r${i}`, title: t }));
    await produce(redis, Readable.from([lines.join('\n')]), { stream: keys.stream('in'), source: 'test', maxRecordBytes: 65536 });
    await waitFor(
      'the hanging record dead-lettered, the others forwarded',
      async () => (await redis.xlen(keys.dlq)) === 1 && (await redis.xlen(keys.stream('out'))) === 4,
      15_000,
    );
  } finally {
    release();
    await worker.stop();
    await running;
  }
  const dl = (await redis.xrange(keys.dlq, '-', '+'))[0]![1];
  const field = (f: string) => dl[dl.indexOf(f) + 1];
  assert.is(field('k'), 'r1');
  assert.is(field('deliveries'), '2', 'only the hanging record used up its deliveries');
  const hungId = field('id')!;
  assert.is(count('messages.errors'), 2, 'messages.errors: the hanging record, once per delivery; none for the records not run');
  assert.is(count('messages.retries'), 1, 'messages.retries: the hanging record retried once');
  assert.ok(count('messages.deferred') >= 3, `messages.deferred counts each record not run (${count('messages.deferred')})`);
  const perMessage = events('message.deferred');
  assert.equal(new Set(perMessage.map((e) => e.key)), new Set(['r2', 'r3', 'r4']), 'each record not run logged as message.deferred');
  for (const e of perMessage) {
    assert.is(e.level, 'info');
    assert.is(e.hung, hungId, 'names the message that hung');
    assert.is(e.attempt, 1, 'no delivery counted');
  }
  const others = new Set(perMessage.map((e) => e.id as string));
  assert.is(others.size, 3);
  const deferred = events('stage.deferred');
  assert.ok(deferred.length >= 1, 'stage.deferred logged');
  for (const e of deferred) {
    assert.is(e.level, 'warn');
    assert.is(e.hung, hungId, 'names the message that hung');
    assert.ok((e.ids as string[]).length > 0 && (e.ids as string[]).every((id) => others.has(id)), JSON.stringify(e));
  }
  assert.equal(
    events('message.retry').map((e) => e.id),
    [hungId],
    'message.retry (warn) only for the record that hung',
  );
  const out = (await redis.xrange(keys.stream('out'), '-', '+')).map(([, f]) => f[1]);
  assert.equal(out.sort(), ['r0', 'r2', 'r3', 'r4'], 'every other record forwarded once');
});

test('a dependency outage waited out in place keeps the worker live but, past blockMs + stallTimeoutMs, not ready (waitingForDependency in the progress file) until it ends; nothing dead-lettered', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  let down = true;
  const flaky = outageStage('flaky', () => down);
  const raw = oneStageToOut(pipeline, 'flaky', { ...FAST, maxDeliveries: 1, claimMinIdleMs: 600_000, stallTimeoutMs: 400, watchdogIntervalMs: 50 });
  const file = join(tmpdir(), `${pipeline}-progress.json`);
  const body = () => (existsSync(file) ? readFileSync(file, 'utf8') : '');
  process.env.PROGRESS_FILE = file; // read by the watchdog when the worker is built (as in a pod)
  const worker = new Worker({ config: resolveConfig(raw, 'test', { env: { REDIS_URL: server.url } }), stage: 'work', stages: { flaky }, logger: silentLogger });
  delete process.env.PROGRESS_FILE;
  const running = worker.run();
  try {
    await produce(redis, Readable.from([JSON.stringify({ id: 'r0', title: 'x' })]), { stream: keys.stream('in'), source: 'test', maxRecordBytes: 65536 });
    await waitFor('not ready during a long outage', () => body().includes('"waitingForDependency":true'), 10_000);
    assert.ok((await markers(keys)).length === 1, 'still live');
    down = false;
    await waitFor('forwarded', async () => (await redis.xlen(keys.stream('out'))) === 1, 10_000);
    await waitFor('ready again', () => body().includes('"waitingForDependency":false'), 10_000);
  } finally {
    down = false;
    await worker.stop();
    await running;
    rmSync(file, { force: true });
  }
  assert.is(await redis.xlen(keys.dlq), 0, 'an outage dead-letters nothing, even with maxDeliveries 1');
});

test('while a stage call hangs the liveness marker and the progress file run out blockMs + stallTimeoutMs after the hang began, though the loop reads on (before: a full stall period later)', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  let release!: () => void;
  const forever = new Promise<void>((r) => (release = r));
  const gate: StageFactory = () => ({
    kind: 'gate',
    async process(batch) {
      await forever;
      return batch.map(() => ok({ passed: true }));
    },
  });
  const o = { ...FAST, blockMs: 50, stageTimeoutMs: 200, claimMinIdleMs: 600_000, stallTimeoutMs: 2000, watchdogIntervalMs: 50 };
  const limit = o.blockMs + o.stallTimeoutMs;
  const file = join(tmpdir(), `${pipeline}-progress.json`);
  const config = resolveConfig(oneStageToOut(pipeline, 'gate', o), 'test', { env: { REDIS_URL: server.url } });
  const worker = new Worker({ config, stage: 'work', stages: { gate }, logger: silentLogger, progressFile: file });
  const running = worker.run();
  try {
    await waitFor('worker live', async () => (await markers(keys)).length === 1);
    await produce(redis, Readable.from([JSON.stringify({ id: 'r0', title: 'hang' })]), { stream: keys.stream('in'), source: 'test', maxRecordBytes: 65536 });
    await waitFor('the call abandoned', () => worker.consumer.stuckSince !== undefined, 10_000);
    const stuckSince = worker.consumer.stuckSince!;
    // Half a stall period into the hang: the loop has gone on reading (progress), the hang is not yet past the limit.
    await waitFor('half the limit', () => Date.now() > stuckSince + limit / 2, 10_000);
    assert.ok(Date.now() - worker.consumer.lastProgressAt < limit / 4, 'the read loop still progresses');
    const [key] = await markers(keys);
    const expiresAt = Date.now() + (await redis.pttl(key!));
    const due = stuckSince + limit + o.watchdogIntervalMs;
    assert.ok(expiresAt <= due + 200, `the marker expires ${expiresAt - due} ms after the hang passes the limit`);
    assert.ok(statSync(file).mtimeMs <= stuckSince + 200, `the file's age counts from the hang (${statSync(file).mtimeMs - stuckSince} ms after it)`);
    assert.ok((JSON.parse(readFileSync(file, 'utf8')) as { progressAt: number }).progressAt <= stuckSince);
    await waitFor('marker gone', async () => (await markers(keys)).length === 0, 10_000);
    assert.ok(Date.now() <= due + 1000, `gone ${Date.now() - due} ms after the limit`);
  } finally {
    release();
    await worker.stop();
    await running;
    rmSync(file, { force: true });
  }
});

/** A `module:` stage whose call never returns on a title "hang" (as a native model call stuck for good). */
const HANGING = join(tmpdir(), `hang-stage-${process.pid}.mjs`);
writeFileSync(
  HANGING,
  `export function createStage() {
  return {
    kind: 'hangs',
    async process(batch) {
      if (batch.some((m) => m.envelope.input.title === 'hang')) await new Promise(() => setInterval(() => {}, 1000));
      return batch.map(() => ({ ok: true, output: { fine: true } }));
    },
  };
}
`,
);

test('EXIT_ON_HUNG=1: a worker whose stage call hangs past stageTimeoutMs + the stall limit exits 70 after logging worker.exit_hung (under compose it had stayed up, hung, for ever)', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  const file = join(tmpdir(), `${pipeline}-hang.json`);
  const o = { ...FAST, blockMs: 50, stageTimeoutMs: 200, claimMinIdleMs: 600_000, stallTimeoutMs: 300, watchdogIntervalMs: 50 };
  writeFileSync(file, JSON.stringify(stageThenStore(pipeline, { name: 'hangs', kind: `module:${HANGING}` }, o)));
  await produce(redis, Readable.from([JSON.stringify({ id: 'r0', title: 'hang' })]), { stream: keys.stream('in'), source: 'test', maxRecordBytes: 65536 });
  const child = spawn(process.execPath, [BIN, '--config', file, 'worker', 'hangs'], {
    env: { ...process.env, REDIS_URL: server.url, EXIT_ON_HUNG: '1', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  try {
    assert.is(await exited(child), 70, out.slice(-2000));
  } finally {
    clearTimeout(timer);
    rmSync(file, { force: true });
  }
  assert.match(out, /"event":"worker\.exit_hung"/);
  assert.match(out, /"event":"watchdog\.stalled"[^\n]*"action":"exit: /);
});

test.after(async () => {
  rmSync(HANGING, { force: true });
});

test.run();
