/**
 * `npm run chaos` started under a process that then dies without passing a signal on (npm or npx
 * signalled alone): the run must stop its workers and redis-server and exit, not run on under init.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { waitFor } from '../helpers/redis.js';

const ROOT = resolve(import.meta.dirname, '../..');

/** Pids whose command line mentions `text`. */
function processesWith(text: string): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(text);
      } catch {
        return false;
      }
    })
    .map(Number);
}

const accepts = (port: number) =>
  new Promise<boolean>((res) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), res(true)));
    s.once('error', () => res(false));
  });

test('chaos whose parent (sh, standing in for npm/npx) is SIGKILLed: it stops the workers and redis-server and exits', async () => {
  // sh stays the parent (a command after the script keeps it from exec-ing it), as npm and tsx do.
  const args = ['--records', '1000000', '--rate', '200', '--workers', '1', '--max-kills', '0', '--redis-restarts', '0', '--parent-poll-ms', '200'];
  const sh = spawn('sh', ['-c', `"$0" --import tsx scripts/scenarios/chaos.ts "$@"; echo sh-done`, process.execPath, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let closed = false;
  sh.stdout.on('data', (d: Buffer) => (out += d.toString()));
  sh.stderr.on('data', (d: Buffer) => (out += d.toString()));
  // The pipes close once the last holder (the chaos process) has exited.
  sh.stdout.on('close', () => (closed = true));
  await waitFor('chaos workers up', () => /workers up/.test(out), 120_000, 100);
  const m = /redis-server redis:\/\/[^:]+:(\d+), pid (\d+), temp dir (\S+)/.exec(out);
  assert.ok(m, out);
  const [port, pid, dir] = [Number(m![1]), Number(m![2]), m![3]!];
  assert.ok(processesWith(dir).length > 0, 'workers run with the temp dir config');
  sh.kill('SIGKILL');
  try {
    await waitFor('the chaos process to exit', () => closed, 30_000, 100);
    assert.match(out, /parent process \d+ is gone/);
    assert.is(await accepts(port), false, 'redis-server stopped');
    await waitFor('the workers to exit', () => processesWith(dir).length === 0, 10_000, 100);
  } finally {
    // Before the fix it runs on: end what is left of this run (its pid, its workers, its redis-server).
    const redisServer = processesWith(`127.0.0.1:${port}`).filter((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith('redis-server'));
    for (const p of [pid, ...processesWith(dir), ...redisServer]) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
});

test.run();
