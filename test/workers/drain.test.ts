import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import type { StageOptions } from '../../lib/config/types.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { produce } from '../../lib/producer/producer.js';
import { consumerName, Keys } from '../../lib/redis/keys.js';
import { ok, type StageFactory } from '../../lib/worker/stage.js';
import { Worker } from '../../lib/worker/worker.js';
import { STAGES } from '../../stages/index.js';
import { exited, FAST, stageThenStore } from '../helpers/pipeline.js';
import { client, randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);
const ROOT = resolve(import.meta.dirname, '../..');

/**
 * The real `pipeline worker` entry point (scripts/commands/worker.ts) in a child process, with a
 * test-only stage of the user's own (`module:`, docs/extending.md): each batch takes SLOW_MS (a
 * timer that keeps the process alive, like a model call would).
 */
const SLOW_MODULE = join(tmpdir(), `drain-slow-stage-${process.pid}.mjs`);
writeFileSync(
  SLOW_MODULE,
  `export function createStage() {
  return {
    kind: 'slow',
    async process(batch) {
      process.stdout.write(JSON.stringify({ event: 'test.batch_started', size: batch.length }) + '\\n');
      await new Promise((r) => setTimeout(r, Number(process.env.SLOW_MS)));
      return batch.map(() => ({ ok: true, output: { slow: true } }));
    },
  };
}
`,
);
const CHILD = `
import { workerCommand } from '${ROOT}/scripts/commands/worker.ts';
await workerCommand('slow', { config: process.env.CONFIG });
`;

function writeSlowConfig(pipeline: string, options: Partial<StageOptions>): string {
  const file = join(tmpdir(), `${pipeline}-slow.json`);
  const raw = stageThenStore(pipeline, { name: 'slow', kind: `module:${SLOW_MODULE}` }, { ...FAST, ...options });
  writeFileSync(file, JSON.stringify(raw));
  return file;
}

function slowWorker(configFile: string, slowMs: number) {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD], {
    cwd: ROOT,
    env: { ...process.env, REDIS_URL: server.url, CONFIG: configFile, SLOW_MS: String(slowMs), LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return Object.assign(child, { output: () => out });
}

async function produceN(keys: Keys, n: number, prefix: string): Promise<void> {
  const lines = Array.from({ length: n }, (_, i) => JSON.stringify({ id: `${prefix}${i}`, title: `item ${i}` })).join('\n');
  await produce(redis, Readable.from([lines]), { stream: keys.stream('in'), source: 'test', maxRecordBytes: 65536 });
}

const pendingOf = async (keys: Keys) => ((await redis.xpending(keys.stream('in'), 'slow')) as [number])[0];
/** The consumers XINFO CONSUMERS lists in the `slow` group: name and pending. */
const consumersOf = async (keys: Keys) => ((await redis.xinfo('CONSUMERS', keys.stream('in'), 'slow')) as unknown[][]).map((c) => [String(c[1]), Number(c[3])]);

test('SIGTERM while a batch outlives drainTimeoutMs: the worker exits 0 at the deadline, the unfinished batch stays pending and another worker reclaims it; every record stored once', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  const file = writeSlowConfig(pipeline, { batchSize: 10, drainTimeoutMs: 500, claimMinIdleMs: 1000 });
  try {
    await produceN(keys, 25, 'd');
    const child = slowWorker(file, 600_000); // the batch would take 10 minutes
    await waitFor('batch started', () => child.output().includes('"event":"test.batch_started"'));
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<'hung'>((r) => (timer = setTimeout(() => r('hung'), 30_000)));
    const code = await Promise.race([exited(child), hung]);
    clearTimeout(timer);
    if (code === 'hung') child.kill('SIGKILL');
    assert.is(code, 0, `the worker exits after drainTimeoutMs, not after its batch: ${child.output()}`);
    assert.match(child.output(), /"event":"consumer\.drain_timeout"/);
    assert.is(await pendingOf(keys), 10, 'the unfinished batch is still pending, not lost and not acked');
    assert.is((await consumersOf(keys)).length, 1, 'a consumer that still owns entries stays in the group, for the reclaimers');

    // Another worker (the stage fixed to be fast) reclaims it and finishes everything.
    const config = resolveConfig(JSON.parse(readFileSync(file, 'utf8')), 'test', { env: { REDIS_URL: server.url } });
    const fast: StageFactory = () => ({ kind: 'slow', process: async (batch) => batch.map(() => ok({ slow: false })) });
    const workers = ['slow', 'store'].map(
      (stage) => new Worker({ config, stage, stages: { ...STAGES, [`module:${SLOW_MODULE}`]: fast }, logger: silentLogger }),
    );
    const runs = workers.map((w) => w.run());
    try {
      await waitFor('all stored', async () => (await redis.scard(keys.products)) === 25);
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
      await Promise.all(runs);
    }
    assert.is(workers[0]!.reclaimer.reclaimed, 10);
    assert.equal(
      (await consumersOf(keys)).filter(([name]) => name === consumerName(hostname(), process.pid, 0)),
      [],
      'the worker stopped cleanly left the group',
    );
    for (let i = 0; i < 25; i++) assert.is(await redis.hget(keys.product(`d${i}`), 'copies'), '1', `d${i}`);
    assert.is(await pendingOf(keys), 0);
  } finally {
    rmSync(file, { force: true });
  }
});

test('SIGTERM while Redis does not answer: the worker exits within one drainTimeoutMs (and its QUITs), not one per background loop', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  const drainTimeoutMs = 3000;
  const boundMs = drainTimeoutMs + 3500;
  const file = writeSlowConfig(pipeline, { batchSize: 10, drainTimeoutMs, claimIntervalMs: 100 });
  const admin = client(server.url);
  try {
    await produceN(keys, 20, 'p');
    const child = slowWorker(file, 1000);
    await waitFor('batch started', () => child.output().includes('"event":"test.batch_started"'));
    // The hand-off and the reclaimer's next pass hang. The pause outlasts the bound asserted below
    // (so the whole shutdown happens while Redis does not answer) and no more: UNPAUSE, paused
    // too, only ends it when it expires.
    await admin.call('CLIENT', 'PAUSE', String(boundMs + 1500), 'ALL');
    const t0 = Date.now();
    child.kill('SIGTERM');
    const code = await exited(child);
    const tookMs = Date.now() - t0;
    await admin.call('CLIENT', 'UNPAUSE');
    assert.is(code, 0, child.output());
    assert.ok(tookMs < boundMs, `shutdown took ${tookMs} ms with drainTimeoutMs ${drainTimeoutMs}`);
  } finally {
    await admin.call('CLIENT', 'UNPAUSE').catch(() => undefined);
    admin.disconnect();
    rmSync(file, { force: true });
  }
});

test('SIGTERM while a batch finishes within drainTimeoutMs: it is handed off before the worker exits 0, nothing left pending', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  const file = writeSlowConfig(pipeline, { batchSize: 10, drainTimeoutMs: 20_000 });
  try {
    await produceN(keys, 10, 'f');
    const child = slowWorker(file, 1_000);
    await waitFor('batch started', () => child.output().includes('"event":"test.batch_started"'));
    child.kill('SIGTERM');
    assert.is(await exited(child), 0, child.output());
    assert.not.match(child.output(), /drain_timeout/);
    assert.is(await pendingOf(keys), 0);
    assert.is(await redis.xlen(keys.stream('store')), 10, 'the batch was forwarded before exit');
    // Stopped cleanly with nothing pending: it left its group (it stayed listed for consumerIdleRemoveMs, counted as a live worker).
    assert.equal(await consumersOf(keys), [], 'no consumer left in the group');
    assert.match(child.output(), /"event":"consumer\.left_group"/);
  } finally {
    rmSync(file, { force: true });
  }
});

test.run();
