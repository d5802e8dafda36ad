/**
 * `npx pipeline up &` or `npm start -- --serve &`, then `kill $!`: npm (or npx) signals the `sh -c`
 * it runs node under, sh dies without passing the signal on, and node, its workers, its
 * redis-server and its API ran on under init. `up`, `start` and `serve` now see the process they
 * were started under gone (`--parent-poll-ms`) and stop as on SIGTERM. `sh` stands in for npm here:
 * a command after the CLI's keeps it from exec-ing node, so it stays the parent, as under npm.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BIN, writeConfig } from '../helpers/pipeline.js';
import { alive, events, killAll, startedPids } from '../helpers/processes.js';
import { randomPipeline, startRedis, waitFor } from '../helpers/redis.js';

const server = await startRedis();
const dir = mkdtempSync(join(tmpdir(), 'parent-gone-'));
/** How often the commands under test look for their parent: short, so the test is quick. */
const POLL_MS = '200';

/** The pids whose parent is `pid` (from /proc). */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** The CLI under `sh` and what it started (workers, a redis-server): what a test kills if the code under test left them. */
const cliTree = (shPid: number) => childrenOf(shPid).flatMap((p) => [p, ...childrenOf(p)]);

/** `pipeline <args>` under `sh -c` (the stand-in for npm's shell); output of sh and all under it collected. */
function underShell(args: string[], env: NodeJS.ProcessEnv) {
  const sh = spawn('sh', ['-c', `"$0" "$@"; echo sh-done`, process.execPath, BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let closed = false;
  sh.stdout.on('data', (d: Buffer) => (out += d.toString()));
  sh.stderr.on('data', (d: Buffer) => (out += d.toString()));
  // The pipe closes once its last holder (the CLI, and the workers writing to it) has exited.
  sh.stdout.on('close', () => (closed = true));
  return Object.assign(sh, { output: () => out, closed: () => closed });
}

const accepts = (port: number) =>
  new Promise<boolean>((res) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), res(true)));
    s.once('error', () => res(false));
  });

const listeningPort = (out: string) => Number(events(out, 'api.listening')[0]?.port);

test('up --serve whose sh is SIGTERMed (npm killed alone): it sees its parent gone, closes the API, drains its workers and exits', async () => {
  const env = { ...process.env, REDIS_URL: server.url, LOG_LEVEL: 'info' };
  const sh = underShell(['--config', writeConfig(randomPipeline()), 'up', '--no-autoscale', '--serve', '--port', '0', '--parent-poll-ms', POLL_MS], env);
  let pids: number[] = [];
  try {
    await waitFor('3 workers reading', () => events(sh.output(), 'worker.started').length === 3, 60_000, 50);
    const cli = childrenOf(sh.pid!);
    pids = [...cliTree(sh.pid!), ...startedPids(sh.output())];
    const port = listeningPort(sh.output());
    assert.is(cli.length, 1, 'one CLI process under sh');
    assert.ok(await accepts(port), 'the API answers');
    sh.kill('SIGTERM');
    await waitFor('up and its workers to exit', () => sh.closed(), 30_000, 50);
    assert.equal(pids.filter(alive), [], 'processes left running');
    assert.is(await accepts(port), false, 'the API still answers');
    assert.match(sh.output(), /"event":"parent.gone"/);
    assert.is(events(sh.output(), 'worker.stopped').length, 3, 'each worker drained and stopped');
    assert.equal(
      events(sh.output(), 'shutdown.begin')
        .filter((e) => e.component === 'supervisor')
        .map((e) => e.signal),
      ['parent-gone'],
    );
  } finally {
    killAll(pids);
  }
});

test('start --serve whose sh is SIGTERMed: the API closes, the workers drain and its own redis-server stops', async () => {
  const input = join(dir, 'in.jsonl');
  writeFileSync(input, Array.from({ length: 20 }, (_, i) => JSON.stringify({ id: `r${i}`, title: `item ${i}`, mpn: `M${i}` })).join('\n') + '\n');
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'info' };
  delete env.REDIS_URL;
  const args = ['--config', writeConfig(randomPipeline()), 'start', '--input', input, '--serve', '--port', '0', '--parent-poll-ms', POLL_MS, '--keep-logs'];
  const sh = underShell(args, env);
  let pids: number[] = [];
  try {
    await waitFor('the API up after the run', () => /serving the API/.test(sh.output()), 120_000, 50);
    pids = [...cliTree(sh.pid!), ...startedPids(sh.output())];
    const port = listeningPort(sh.output());
    const redisPort = Number(/"url":"redis:\/\/127\.0\.0\.1:(\d+)/.exec(sh.output())?.[1]);
    const logFile = String(events(sh.output(), 'start.produced')[0]!.workerLog);
    assert.ok(await accepts(port), 'the API answers');
    sh.kill('SIGTERM');
    await waitFor('start to exit', () => sh.closed(), 30_000, 50);
    assert.equal(pids.filter(alive), [], 'processes left running');
    assert.is(await accepts(port), false, 'the API still answers');
    assert.is(await accepts(redisPort), false, 'its redis-server still runs');
    assert.match(sh.output(), /"event":"parent.gone"/);
    assert.is(events(readFileSync(logFile, 'utf8'), 'worker.stopped').length, 3, 'each worker drained and stopped');
  } finally {
    killAll(pids);
  }
});

test('serve whose sh is SIGTERMed: it closes and exits', async () => {
  const env = { ...process.env, REDIS_URL: server.url, LOG_LEVEL: 'info' };
  const sh = underShell(['--config', writeConfig(randomPipeline()), 'serve', '--port', '0', '--parent-poll-ms', POLL_MS], env);
  let pids: number[] = [];
  try {
    await waitFor('the API listening', () => events(sh.output(), 'api.listening').length === 1, 60_000, 50);
    pids = cliTree(sh.pid!);
    const port = listeningPort(sh.output());
    sh.kill('SIGTERM');
    await waitFor('serve to exit', () => sh.closed(), 30_000, 50);
    assert.equal(pids.filter(alive), [], 'serve left running');
    assert.is(await accepts(port), false, 'the API still answers');
    assert.match(sh.output(), /"event":"parent.gone"/);
  } finally {
    killAll(pids);
  }
});

test.after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

test.run();
