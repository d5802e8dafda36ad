import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import { createLogger } from '../../lib/observe/logger.js';
import { produce } from '../../lib/producer/producer.js';
import { isLivenessMarker, Keys } from '../../lib/redis/keys.js';
import { ok, type StageFactory } from '../../lib/worker/stage.js';
import { Worker } from '../../lib/worker/worker.js';
import { FAST, loggedWorkers, rulesOnlyConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, startRedis, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test, { appendonly: true, appendfsync: 'always' });
const dir = mkdtempSync(join(tmpdir(), 'reconnect-'));

async function produceN(keys: Keys, from: number, n: number): Promise<void> {
  const lines = Array.from({ length: n }, (_, i) => JSON.stringify({ id: `r${from + i}`, title: `item ${from + i}`, ...(i % 2 ? { mpn: `M${i}` } : {}) })).join(
    '\n',
  );
  await produce(redis, Readable.from([lines]), { stream: keys.stream('in'), source: 'test', maxRecordBytes: 65536 });
}

async function allCopiesOne(keys: Keys, n: number): Promise<void> {
  const copies = await Promise.all(Array.from({ length: n }, (_, i) => redis.hget(keys.product(`r${i}`), 'copies')));
  assert.equal(
    copies.filter((c) => c !== '1'),
    [],
    'every record stored exactly once',
  );
}

test('after redis-server restarts under running workers (AOF on), they resume consuming: records produced after the restart are stored, exactly once', async () => {
  const config = rulesOnlyConfig(server.url, randomPipeline(), FAST);
  const keys = new Keys(config.pipeline);
  const run = loggedWorkers(config);
  try {
    await produceN(keys, 0, 200);
    await waitFor('first half stored', async () => (await redis.scard(keys.products)) === 200);
    const before = run.workers.map((w) => w.consumer.processed);
    await server.restart('SIGKILL');
    await waitFor('test client back', async () => (await redis.ping().catch(() => '')) === 'PONG');
    await produceN(keys, 200, 200);
    await waitFor('second half stored', async () => (await redis.scard(keys.products)) === 400, 60_000);
    const after = run.workers.map((w) => w.consumer.processed);
    assert.ok(
      after.every((n, i) => n > before[i]!),
      `every stage consumed after the restart (${before} → ${after})`,
    );
  } finally {
    await run.stop();
  }
  await allCopiesOne(keys, 400);
});

/** A TCP proxy to Redis that can freeze its open connections: sockets stay up, bytes stop (a half-open link). */
class FreezingProxy {
  private readonly server: Server;
  private readonly pairs = new Set<{ a: Socket; b: Socket; frozen: boolean }>();
  port = 0;

  constructor(private readonly target: number) {
    this.server = createServer((a) => {
      const b = connect(this.target, '127.0.0.1');
      const pair = { a, b, frozen: false };
      this.pairs.add(pair);
      a.on('data', (d) => pair.frozen || b.write(d));
      b.on('data', (d) => pair.frozen || a.write(d));
      const close = () => {
        this.pairs.delete(pair);
        a.destroy();
        b.destroy();
      };
      a.on('close', close).on('error', close);
      b.on('close', close).on('error', close);
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  /** Every connection open now stops passing bytes; new ones work. */
  freeze(): void {
    for (const p of this.pairs) p.frozen = true;
  }

  async close(): Promise<void> {
    for (const p of this.pairs) {
      p.a.destroy();
      p.b.destroy();
    }
    await new Promise((r) => this.server.close(r));
  }
}

test('a half-open connection (socket up, no replies) is caught by the progress watchdog, which resets it: consuming resumes', async () => {
  const proxy = await new FreezingProxy(server.port).start();
  const config = rulesOnlyConfig(`redis://127.0.0.1:${proxy.port}`, randomPipeline(), {
    ...FAST,
    blockMs: 200,
    stallTimeoutMs: 1_000,
    watchdogIntervalMs: 100,
  });
  const keys = new Keys(config.pipeline);
  const logs: string[] = [];
  const run = loggedWorkers(config, logs);
  try {
    await produceN(keys, 0, 100);
    await waitFor('first batch stored through the proxy', async () => (await redis.scard(keys.products)) === 100);
    proxy.freeze();
    await produceN(keys, 100, 100); // straight to Redis: the workers' links are frozen
    await waitFor('stored after the freeze', async () => (await redis.scard(keys.products)) === 200, 60_000);
  } finally {
    await run.stop();
    await proxy.close();
  }
  await allCopiesOne(keys, 200);
  const recoveries = run.workers.reduce((n, w) => n + w.consumer.watchdog.recoveries, 0);
  assert.ok(recoveries >= 3, `each stage's stuck connection was reset (${recoveries} resets)`);
  const stalled = logs.filter((l) => l.includes('"event":"watchdog.stalled"')).map((l) => JSON.parse(l) as { phase: string; action: string });
  assert.ok(
    stalled.some((s) => s.phase === 'reading' && s.action === 'reset connection read'),
    'a stuck read was reset',
  );
  assert.ok(logs.some((l) => l.includes('"event":"watchdog.progress_resumed"')));
});

test('while Redis is down the progress file stays fresh, marked waitingForRedis (liveness holds, readiness fails); with Redis back the mark goes', async () => {
  const own = await startRedis({ appendonly: true, appendfsync: 'always' });
  const config = resolveConfig(
    {
      pipeline: randomPipeline(),
      input: 'in',
      defaults: { ...FAST, blockMs: 100, stallTimeoutMs: 300, watchdogIntervalMs: 50 },
      stages: [{ name: 'pass', kind: 'pass', input: 'in' }],
      routes: { pass: [{ to: 'review' }] },
    },
    'test',
    { env: { REDIS_URL: own.url } },
  );
  const pass: StageFactory = () => ({ kind: 'pass', process: async (batch) => batch.map(() => ok({})) });
  const file = join(dir, 'progress-outage.json');
  process.env.PROGRESS_FILE = file;
  const worker = new Worker({ config, stage: 'pass', stages: { pass }, logger: createLogger({}, 'error', () => {}) });
  delete process.env.PROGRESS_FILE;
  const running = worker.run();
  const body = () => (existsSync(file) ? readFileSync(file, 'utf8') : '');
  try {
    await waitFor('progress file written', () => body().includes('"waitingForRedis":false'));
    await own.stop('SIGKILL');
    // Past blockMs + stallTimeoutMs without progress, and the reader is reconnecting: waiting, not stuck.
    await waitFor('marked waiting for Redis', () => body().includes('"waitingForRedis":true'), 10_000);
    const first = statSync(file).mtimeMs;
    await waitFor('still refreshed during the outage', () => statSync(file).mtimeMs > first, 5_000);
    await own.start();
    await waitFor('mark gone with Redis back', () => body().includes('"waitingForRedis":false'), 30_000);
  } finally {
    await worker.stop();
    await running;
    await own.close();
  }
});

test('the liveness key and file are refreshed while the loop makes progress, stop when it stalls inside the stage, and come back with progress', async () => {
  const gate = { open: true, reached: false };
  const hanging: StageFactory = () => ({
    kind: 'hang',
    async process(batch) {
      if (batch.some((m) => m.envelope.input.hang)) {
        gate.reached = true;
        while (!gate.open) await new Promise((r) => setTimeout(r, 20));
      }
      return batch.map(() => ok({}));
    },
  });
  const pipeline = randomPipeline();
  const config = resolveConfig(
    {
      pipeline,
      input: 'in',
      defaults: { ...FAST, blockMs: 100, stallTimeoutMs: 600, watchdogIntervalMs: 50, keepClaimedMs: 100 },
      stages: [{ name: 'hang', kind: 'hang', input: 'in' }],
      routes: { hang: [{ to: 'review' }] },
    },
    'test',
    { env: { REDIS_URL: server.url } },
  );
  const keys = new Keys(pipeline);
  const file = join(dir, 'progress.json');
  process.env.PROGRESS_FILE = file;
  const logs: string[] = [];
  const worker = new Worker({ config, stage: 'hang', stages: { hang: hanging }, logger: createLogger({}, 'info', (l) => logs.push(l)) });
  delete process.env.PROGRESS_FILE;
  const running = worker.run();
  try {
    const livenessKeys = async () => (await redis.keys(`${keys.tag}:liveness:*`)).filter(isLivenessMarker);
    await waitFor('liveness key set', async () => (await livenessKeys()).length === 1);
    const [liveKey] = await livenessKeys();
    const live = JSON.parse((await redis.get(liveKey!))!) as { stage: string; consumer: string; pid: number; phase: string };
    assert.is(live.stage, 'hang');
    assert.is(live.pid, process.pid);
    assert.ok((await redis.pttl(liveKey!)) > 0, 'it expires by itself');
    await waitFor('progress file written', () => existsSync(file) && readFileSync(file, 'utf8').includes('"stage":"hang"'));

    gate.open = false;
    await produce(redis, Readable.from(['{"id":"h1","title":"hangs","hang":true}']), { stream: keys.stream('in'), source: 'test', maxRecordBytes: 65536 });
    await waitFor('stage reached', () => gate.reached);
    await waitFor('liveness key gone while stalled', async () => (await redis.exists(liveKey!)) === 0);
    const frozenAt = statSync(file).mtimeMs;
    await new Promise((r) => setTimeout(r, 300));
    assert.is(statSync(file).mtimeMs, frozenAt, 'the file is not refreshed while stalled');
    assert.ok(worker.consumer.watchdog.stalls >= 1);
    assert.ok(logs.some((l) => l.includes('"event":"watchdog.stalled"') && l.includes('"phase":"processing"') && l.includes('cannot be interrupted')));
    await new Promise((r) => setTimeout(r, 800)); // the probe's PING of the sound command connection comes back
    assert.is(worker.consumer.watchdog.recoveries, 0, 'a sound connection is not reset');

    gate.open = true;
    await waitFor('liveness key back', async () => (await redis.exists(liveKey!)) === 1);
    assert.is(await redis.xlen(keys.stream('review')), 1, 'the batch went through');
  } finally {
    gate.open = true;
    await worker.stop();
    await running;
  }
  assert.equal(await redis.keys(`${keys.tag}:liveness:*`), [], 'a clean stop removes the liveness key and its registration');
});

test.after(async () => {
  rmSync(dir, { recursive: true, force: true });
});
test.run();
