/**
 * `pipeline start` (`npm start`) stops what it started on a signal: SIGTERM mid-run stops its
 * workers and its own redis-server; Ctrl-C under `--serve` reaches only it (workers run in their
 * own process groups), so each worker drains once, exits 0 and is not restarted. SIGKILL, which no
 * handler sees: its redis-server's watcher stops it, and the next `start` stops one left anyway
 * (lib/redis/server-owner.ts).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BIN, cli, exited, writeConfig } from '../helpers/pipeline.js';
import { alive, events, killAll, startedPids } from '../helpers/processes.js';
import { Redis } from 'ioredis';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';

const dir = mkdtempSync(join(tmpdir(), 'start-lifecycle-'));

/** `pipeline start` with no REDIS_URL (it starts its own redis-server), output collected. */
function start(args: string[], records: number, opts: { detached?: boolean } = {}) {
  const input = join(dir, `${randomPipeline('in')}.jsonl`);
  writeFileSync(input, Array.from({ length: records }, (_, i) => JSON.stringify({ id: `r${i}`, title: `item ${i}`, mpn: `M${i}` })).join('\n') + '\n');
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'info' };
  delete env.REDIS_URL;
  const config = writeConfig(randomPipeline());
  // --keep-logs: the tests read the worker log after the job ended (a clean run's is removed).
  const child = spawn(process.execPath, [BIN, '--config', config, 'start', '--input', input, '--keep-logs', ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.detached ?? false,
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return Object.assign(child, { output: () => out, config });
}

const refused = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(false)));
    s.once('error', () => resolve(true));
  });

test('start killed by SIGTERM mid-run: its workers drain and exit, its redis-server stops, exit 130 (both had been left running)', async () => {
  const job = start([], 40_000);
  let pids: number[] = [];
  try {
    await waitFor('records produced', () => job.output().includes('"event":"start.produced"'), 60_000);
    pids = startedPids(job.output());
    const logFile = String(events(job.output(), 'start.produced')[0]!.workerLog);
    await waitFor('3 workers reading', () => events(readFileSync(logFile, 'utf8'), 'worker.started').length === 3, 30_000);
    assert.not.match(job.output(), /done in/, 'the run ended before the signal');
    assert.is(pids.length, 3);
    const port = Number(/"url":"redis:\/\/127\.0\.0\.1:(\d+)/.exec(job.output())?.[1]);
    job.kill('SIGTERM');
    assert.is(await exited(job), 130, job.output());
    assert.equal(pids.filter(alive), [], 'workers left running');
    assert.ok(await refused(port), 'its redis-server still runs');
    assert.is(events(readFileSync(logFile, 'utf8'), 'worker.stopped').length, 3, 'each worker drained and stopped');
  } finally {
    job.kill('SIGKILL');
    killAll(pids);
  }
});

test('start --serve, Ctrl-C at the terminal (SIGINT to the process group): each worker drains once and exits 0, none is restarted', async () => {
  const job = start(['--serve', '--port', '0'], 50, { detached: true });
  try {
    await waitFor('serving', () => job.output().includes('serving the API on'), 120_000);
    // Its redis-server is on a free port, not the CLI's default: the banner says how to reach it
    // (a newcomer's `npx pipeline top` beside `npm start -- --serve` had met nothing at 6379).
    const hint = /the CLI on this pipeline \(its Redis stops with it\): REDIS_URL=(\S+) npx pipeline --config (\S+) top/.exec(job.output());
    assert.ok(hint, job.output());
    assert.is(hint![1], String(events(job.output(), 'job.redis_started')[0]!.url));
    assert.is(hint![2], job.config);
    const status = cli(['--config', hint![2]!, 'status'], hint![1]!);
    assert.is(await exited(status), 0, status.output());
    assert.match(status.output(), /stored 50\b|50 stored|"stored":50|stored\s+50/);
    const pids = startedPids(job.output());
    process.kill(-job.pid!, 'SIGINT');
    assert.is(await exited(job), 0, job.output());
    assert.equal(events(job.output(), 'supervisor.crashed'), [], 'a worker stopped by Ctrl-C was taken for a crash');
    const exits = events(job.output(), 'supervisor.exited');
    assert.equal(
      exits.map((e) => e.code),
      [0, 0, 0],
      job.output(),
    );
    assert.equal(startedPids(job.output()), pids, 'no worker was started again');
    const log = readFileSync(String(events(job.output(), 'start.produced')[0]!.workerLog), 'utf8');
    assert.is(events(log, 'worker.stopped').length, 3);
    assert.equal(events(log, 'redis.connection_error'), [], 'Redis went (Ctrl-C) before the workers had drained');
  } finally {
    try {
      process.kill(-job.pid!, 'SIGKILL');
    } catch {
      // gone
    }
    killAll(startedPids(job.output()));
  }
});

/** Where `start` said its own redis-server is: port and data dir (`job.redis_started`). */
function ownRedis(output: string): { port: number; dir: string } {
  const e = events(output, 'job.redis_started')[0]!;
  return { port: Number(/:(\d+)$/.exec(String(e.url))![1]), dir: String(e.dir) };
}

/** A test's cleanup: stop whatever redis-server still answers on `port` (one a killed `start` left). */
async function shutdownIfUp(port: number): Promise<void> {
  const r = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => {});
  await r
    .connect()
    .then(() => r.call('SHUTDOWN', 'NOSAVE'))
    .catch(() => {});
  r.disconnect();
}

test('start killed by SIGKILL: its redis-server stops at once (its watcher), its workers exit (redis-server had been left running for good)', async () => {
  const job = start([], 40_000);
  let pids: number[] = [];
  let port = 0;
  try {
    await waitFor('3 workers started', () => startedPids(job.output()).length === 3, 60_000);
    pids = startedPids(job.output());
    const own = ownRedis(job.output());
    port = own.port;
    assert.not.ok(await refused(port), 'precondition: its redis-server answers');
    job.kill('SIGKILL');
    await exited(job);
    await waitFor('its redis-server stopped', () => refused(port), 10_000, 50);
    await waitFor('its temp dir removed', () => !existsSync(own.dir), 10_000, 50);
    await waitFor('its workers gone', () => pids.every((p) => !alive(p)), 30_000, 100);
  } finally {
    job.kill('SIGKILL');
    killAll(pids);
    if (port) await shutdownIfUp(port);
  }
});

test('a redis-server whose start and watcher were both SIGKILLed is stopped by the next start, its dir removed; a live owner keeps its own', async () => {
  const first = start([], 40_000);
  const live = await startRedis(); // owned by this test process, which runs on
  let pids: number[] = [];
  let orphan: { port: number; dir: string } | undefined;
  try {
    await waitFor('3 workers started', () => startedPids(first.output()).length === 3, 60_000);
    pids = startedPids(first.output());
    orphan = ownRedis(first.output());
    const owner = JSON.parse(readFileSync(join(orphan.dir, 'owner.json'), 'utf8')) as { ownerPid: number; watcher?: number; port: number };
    assert.is(owner.ownerPid, first.pid);
    assert.is(owner.port, orphan.port);
    process.kill(owner.watcher!, 'SIGKILL');
    first.kill('SIGKILL');
    await exited(first);
    await waitFor('its workers gone', () => pids.every((p) => !alive(p)), 30_000, 100);
    assert.not.ok(await refused(orphan.port), 'precondition: with its watcher gone, the redis-server is left');

    const next = start([], 20);
    assert.is(await exited(next), 0, next.output());
    const stopped = events(next.output(), 'redis.orphan_stopped');
    assert.ok(
      stopped.some((e) => e.port === orphan!.port && e.ownerPid === first.pid),
      next.output(),
    );
    assert.ok(await refused(orphan.port), 'the orphan still runs');
    assert.not.ok(existsSync(orphan.dir), 'its dir is left');
    const c = client(live.url);
    assert.is(await c.ping(), 'PONG', "a live owner's redis-server was stopped");
    c.disconnect();
  } finally {
    first.kill('SIGKILL');
    killAll(pids);
    if (orphan) await shutdownIfUp(orphan.port);
    await live.close();
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
