/**
 * `pipeline up` never leaves its detached workers behind: a second Ctrl-C SIGKILLs them, a SIGHUP
 * stops them like SIGTERM, a SIGKILL to `up` makes them drain and exit (their IPC channel
 * closes), a failed start stops them; a worker stuck after SIGTERM is SIGKILLed after its
 * drainTimeoutMs + 10 s; an unreachable Redis fails `up` at once.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cli, exited, exitedWithin, FAST, stageThenStore, writeConfig } from '../helpers/pipeline.js';
import { alive, events, killAll, startedPids } from '../helpers/processes.js';
import { randomPipeline, startRedis, waitFor } from '../helpers/redis.js';

const server = await startRedis();
const dir = mkdtempSync(join(tmpdir(), 'up-lifecycle-'));
/** A stage whose init() writes a marker and then spins for ever: a worker stuck in CPU work, deaf to SIGTERM. */
const SPIN = join(dir, 'spin.mjs');
writeFileSync(
  SPIN,
  `import { writeFileSync } from 'node:fs';
export function createStage() {
  return {
    kind: 'spin',
    async init() {
      writeFileSync(${JSON.stringify(dir)} + '/spinning-' + process.pid, '');
      for (;;);
    },
    async process(batch) {
      return batch.map(() => ({ ok: true, output: {} }));
    },
  };
}
`,
);

function spinConfig(drainTimeoutMs: number): string {
  const pipeline = randomPipeline('spin');
  const file = join(dir, `${pipeline}.json`);
  writeFileSync(file, JSON.stringify(stageThenStore(pipeline, { name: 'spin', kind: `module:${SPIN}` }, { ...FAST, drainTimeoutMs })));
  return file;
}

/** `up` on the spin config, once its spinning worker is stuck in init() and the store worker reads. */
async function upWithStuckWorker(drainTimeoutMs: number) {
  const up = cli(['--config', spinConfig(drainTimeoutMs), 'up', '--no-autoscale'], server.url);
  await waitFor('two workers started', () => startedPids(up.output()).length === 2, 30_000);
  await waitFor('the spin worker is stuck', () => startedPids(up.output()).some((p) => existsSync(join(dir, `spinning-${p}`))), 30_000);
  await waitFor('the store worker reads', () => up.output().includes('"event":"worker.started"'), 30_000);
  return up;
}

const gone = (pids: number[]) => pids.every((p) => !alive(p));

test('a second Ctrl-C to up exits 130 and SIGKILLs every worker, one stuck in CPU work too (it had outlived up for ever)', async () => {
  const up = await upWithStuckWorker(5_000);
  const pids = startedPids(up.output());
  try {
    up.kill('SIGINT');
    await waitFor('the store worker drained', () => up.output().includes('"event":"worker.stopped"'), 15_000);
    up.kill('SIGINT');
    assert.is(await exited(up), 130, up.output());
    assert.match(up.output(), /"event":"shutdown.forced"/);
    await waitFor('no worker left', () => gone(pids), 5_000);
  } finally {
    killAll(pids);
  }
});

test('a worker still running drainTimeoutMs + 10 s after SIGTERM is SIGKILLed, logged as a warning (not after a fixed 60 s)', async () => {
  const up = await upWithStuckWorker(300);
  const pids = startedPids(up.output());
  try {
    const t0 = Date.now();
    up.kill('SIGTERM');
    const code = await exitedWithin(up, 25_000);
    assert.is(code, 0, up.output());
    assert.ok(Date.now() - t0 >= 10_000, `SIGKILLed before drainTimeoutMs + 10 s (${Date.now() - t0} ms)`);
    const killed = events(up.output(), 'supervisor.killed');
    assert.is(killed.length, 1, up.output());
    assert.equal([killed[0]!.level, killed[0]!.stage, killed[0]!.afterMs], ['warn', 'spin', 10_300]);
    assert.ok(gone(pids));
  } finally {
    killAll(pids);
    up.kill('SIGKILL');
  }
});

/** `up` on a rules-only pipeline once its three workers read. */
async function upRunning() {
  const up = cli(['--config', writeConfig(randomPipeline()), 'up'], server.url);
  await waitFor('3 workers reading', () => events(up.output(), 'worker.started').length === 3, 30_000);
  return up;
}

test('SIGKILL to up (or its terminal gone): the workers notice (IPC channel), drain and exit (they had run on with PPID 1)', async () => {
  const up = await upRunning();
  const pids = startedPids(up.output());
  try {
    up.kill('SIGKILL');
    await exited(up);
    await waitFor('every worker exited', () => gone(pids), 15_000);
    assert.is(events(up.output(), 'worker.stopped').length, 3, 'each drained and stopped cleanly');
    assert.is(events(up.output(), 'shutdown.begin').filter((e) => e.signal === 'disconnect').length, 3);
  } finally {
    killAll(pids);
  }
});

test('SIGHUP to up (an ssh disconnect) stops it like SIGTERM: workers drain, up exits 0', async () => {
  const up = await upRunning();
  const pids = startedPids(up.output());
  try {
    up.kill('SIGHUP');
    assert.is(await exited(up), 0, up.output());
    assert.ok(gone(pids), 'no worker left');
    assert.is(events(up.output(), 'worker.stopped').length, 3);
  } finally {
    killAll(pids);
  }
});

test('up --serve with the port in use: one error line, exit 1, no worker started (they had been left running)', async () => {
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  const port = (taken.address() as { port: number }).port;
  const up = cli(['--config', writeConfig(randomPipeline()), 'up', '--serve', '--port', String(port)], server.url);
  try {
    assert.is(await exited(up), 1, up.output());
    assert.match(up.output(), /error: cannot serve the HTTP API on 127\.0\.0\.1:\d+: the port is in use .*--port N or env PORT \[listen EADDRINUSE/);
    const pids = startedPids(up.output());
    await waitFor('no worker left', () => gone(pids), 15_000).catch(() => undefined);
    assert.equal(pids.filter(alive), [], 'workers left running');
  } finally {
    killAll(startedPids(up.output()));
    taken.close();
  }
});

test('up against an unreachable Redis: one line and exit 10, as every command (it had retried for ever)', async () => {
  const up = cli(['--config', writeConfig(randomPipeline()), 'up'], 'redis://127.0.0.1:1');
  try {
    const code = await exitedWithin(up, 20_000);
    assert.is(code, 10, up.output());
    const lines = up.output().trim().split('\n');
    assert.is(lines.length, 1, up.output());
    assert.match(lines[0]!, /^error: .*REDIS_URL/);
  } finally {
    up.kill('SIGKILL');
    killAll(startedPids(up.output()));
  }
});

test.after(async () => {
  rmSync(dir, { recursive: true, force: true });
  await server.close();
});
test.run();
