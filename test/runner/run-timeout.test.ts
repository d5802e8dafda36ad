/**
 * The runner's per-file time limit (test/runner/run-files.ts, test/runner/run-tree.ts) on fixture files in a temp
 * dir (not test/, so `npm test` never runs them): a file that hangs (as test/api/api-exactly-once.test.ts
 * did for 30 minutes, holding the whole run) is ended with every process it started, counted failed
 * with its output so far and `timed out after N s`, and the run goes on to the next file. The same
 * ending for a run interrupted (test/runner/run.ts on Ctrl-C, stopRunning), which starts no file after.
 */
import { readFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { alive, killAll } from '../helpers/processes.js';
import { waitFor } from '../helpers/redis.js';
import { runFiles, stopRunning, type FileOptions } from './run-files.js';

/** The fixture's limit: long enough for tsx to start it on a busy machine, short for the test. */
const TIMEOUT_MS = 6_000;
/** Between SIGTERM (which the fixture ignores) and SIGKILL. */
const GRACE_MS = 300;
/** The run must have gone on past the hung file by then (before the fix it waited for ever). */
const RUN_DEADLINE_MS = 60_000;

const fx = mkdtempSync(join(tmpdir(), 'run-timeout-fixtures-'));
const marks = join(fx, 'marks');
writeFileSync(join(fx, 'package.json'), '{"type":"module"}\n');

// Hangs after two uvu pass marks, with a sleep in its process group, one in a group of its own (as
// the redis-server watchers run) and one out of its tree altogether (its parent sh exited: under
// init), which holds the file's output open. It ignores SIGTERM: only SIGKILL ends it.
writeFileSync(
  join(fx, 'hang.test.ts'),
  `import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
process.on('SIGTERM', () => {});
const inGroup = spawn('sleep', ['1000'], { stdio: 'ignore' });
const ownGroup = spawn('sleep', ['1001'], { stdio: 'ignore', detached: true });
spawn('sh', ['-c', 'sleep 1002 & echo $! > ${marks}/escaped.pid'], { stdio: ['ignore', 'inherit', 'inherit'], detached: true });
console.log('hang says hello');
process.stdout.write('• • ');
writeFileSync('${marks}/hang.pids', JSON.stringify([process.pid, inGroup.pid, ownGroup.pid]));
setInterval(() => {}, 1000);
`,
);
writeFileSync(join(fx, 'ok.test.ts'), `console.log('Total:     1\\nPassed:    1');\n`);

/** The fixture's pids: its own, its sleeps' (one in its group, one in a group of its own). */
async function hangPids(): Promise<number[]> {
  await waitFor('the hanging fixture to start its sleeps', () => existsSync(join(marks, 'hang.pids')) && existsSync(join(marks, 'escaped.pid')), 30_000, 50);
  return JSON.parse(readFileSync(join(marks, 'hang.pids'), 'utf8')) as number[];
}

/** A test's cleanup: the fixture's processes, with the sleep out of its tree (nothing the runner can find), and all of them when the runner left them (before the fix). */
function leftovers(): number[] {
  const read = (f: string) => (existsSync(join(marks, f)) ? [JSON.parse(readFileSync(join(marks, f), 'utf8')) as number | number[]].flat() : []);
  return [...read('hang.pids'), ...read('escaped.pid')];
}

async function run(files: string[], limits: FileOptions): Promise<{ blocks: string[]; sum: Awaited<ReturnType<typeof runFiles>> }> {
  const blocks: string[] = [];
  const deadline = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error(`the run had not ended ${RUN_DEADLINE_MS} ms after it began: ${blocks.join('')}`)), RUN_DEADLINE_MS).unref(),
  );
  const sum = await Promise.race([runFiles(fx, files, { jobs: 1, alone: {}, write: (b) => blocks.push(b), ...limits }), deadline]);
  return { blocks, sum };
}

test.before.each(() => {
  rmSync(marks, { recursive: true, force: true });
  mkdirSync(marks);
});

test('a file over its time limit: ended with its process tree (SIGKILL after the grace), counted failed with its output and the timeout line; the run goes on', async () => {
  try {
    const { blocks, sum } = await run(['hang.test.ts', 'ok.test.ts'], { fileTimeoutMs: TIMEOUT_MS, killGraceMs: GRACE_MS });
    const pids = await hangPids();
    assert.is(blocks.length, 2, blocks.join(''));
    assert.match(blocks[0]!, /^FAIL hang\.test\.ts \(2\/\?, [\d.]+s\) timed out after 6 s\n/, blocks[0]);
    assert.match(blocks[0]!, /\n {4}hang says hello\n/, "the file's output so far");
    assert.match(blocks[0]!, /\n {4}timed out after 6 s: its processes were sent SIGTERM, SIGKILL after 0\.3 s; 2 tests had passed \(uvu's • marks\)/);
    assert.match(blocks[1]!, /^ok {3}ok\.test\.ts \(1\/1, /, 'the next file ran');
    assert.equal(sum, { passed: 3, failed: 1, failedFiles: ['hang.test.ts'] });
    assert.equal(
      pids.filter((p) => alive(p)),
      [],
      'the fixture (which ignores SIGTERM) and its sleeps (in its group and in a group of their own) are gone',
    );
  } finally {
    killAll(leftovers());
  }
});

test('a file without a time limit (0) runs on; stopRunning (the runner on Ctrl-C) ends it and its tree and starts no other file', async () => {
  try {
    const running = run(['hang.test.ts', 'ok.test.ts'], { fileTimeoutMs: 0, killGraceMs: GRACE_MS });
    const pids = await hangPids();
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(alive(pids[0]!), 'still running: no limit');
    await stopRunning('interrupted (test)');
    const { blocks, sum } = await running;
    assert.is(blocks.length, 1, `ok.test.ts was not started: ${blocks.join('')}`);
    assert.match(blocks[0]!, /^FAIL hang\.test\.ts \(2\/\?, [\d.]+s\) interrupted \(test\)\n/, blocks[0]);
    assert.match(blocks[0]!, /\n {4}interrupted \(test\): its processes were sent SIGTERM/);
    assert.equal(sum, { passed: 2, failed: 1, failedFiles: ['hang.test.ts'] });
    assert.equal(
      pids.filter((p) => alive(p)),
      [],
      'the fixture and its sleeps are gone',
    );
  } finally {
    killAll(leftovers());
  }
});

test.after(() => rmSync(fx, { recursive: true, force: true }));
test.run();
