/**
 * The test runner (test/runner/run.ts, test/runner/run-files.ts) on fixture test files in a temp dir (not
 * test/, so `npm test` never runs them): two files run at once (each waits to see the other
 * running), a run-alone file runs afterwards with nothing beside it, each file's output comes as
 * one block, each file has its own TMPDIR (removed after; only tsx's cache in it is shared), a file over its time limit is ended with
 * the processes it started and counted failed while the run goes on, and `--jobs`,
 * `--file-timeout`, `--kill-grace` and their environment variables are read as
 * docs/development.md says; the run's build gives TEST_DIST=1 to the files started after it succeeded.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_FILE_TIMEOUT_S, DEFAULT_JOBS, DEFAULT_KILL_GRACE_S, parseArgs } from './run-args.js';
import { startBuild } from './run-build.js';
import { runFiles, runTally, TSX_CACHE } from './run-files.js';

/** How long a paired fixture waits to see its partner running (env PAIR_WAIT_MS of the fixture). @defaultValue 20000 */
const PAIR_WAIT_MS = 20_000;
/** How often a fixture looks for its partner. @defaultValue 20 */
const POLL_MS = 20;

const fx = mkdtempSync(join(tmpdir(), 'run-fixtures-'));
const marks = join(fx, 'marks');
writeFileSync(join(fx, 'package.json'), '{"type":"module"}\n');

/** A fixture that marks itself running, waits (with a deadline) to see `partner` running or ended, then passes (uvu's summary lines). */
function paired(name: string, partner: string): void {
  writeFileSync(
    join(fx, `${name}.test.ts`),
    `import { existsSync, realpathSync, writeFileSync, rmSync } from 'node:fs';
const m = (n: string, s: string) => ${JSON.stringify(marks)} + '/' + n + '.' + s;
writeFileSync(m('${name}', 'tmpdir'), process.env.TMPDIR ?? '');
writeFileSync(m('${name}', 'tsx'), realpathSync(process.env.TMPDIR + '/${TSX_CACHE}'));
writeFileSync(m('${name}', 'running'), '');
const alone = existsSync(m('z', 'running')) || existsSync(m('z', 'ended'));
const deadline = Date.now() + Number(process.env.PAIR_WAIT_MS ?? ${PAIR_WAIT_MS});
while (!existsSync(m('${partner}', 'running')) && !existsSync(m('${partner}', 'ended')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, ${POLL_MS}));
const saw = existsSync(m('${partner}', 'running')) || existsSync(m('${partner}', 'ended'));
writeFileSync(m('${name}', 'ended'), '');
rmSync(m('${name}', 'running'));
console.log(saw && !alone ? 'Total:     1\\nPassed:    1' : 'never saw ${partner} running (or ran beside z)\\nTotal:     1\\nPassed:    0');
process.exit(saw && !alone ? 0 : 1);
`,
  );
}

paired('a', 'b');
paired('b', 'a');
writeFileSync(
  join(fx, 'c.test.ts'),
  `import { writeFileSync } from 'node:fs';
writeFileSync(${JSON.stringify(marks)} + '/c.tmpdir', process.env.TMPDIR ?? '');
for (let i = 1; i <= 3; i++) console.log('c says ' + i);
console.error('c fails');
process.exit(1);
`,
);
// The run-alone fixture: passes when it starts after a and b ended and while no other fixture runs.
writeFileSync(
  join(fx, 'z.test.ts'),
  `import { existsSync, readdirSync, writeFileSync, rmSync } from 'node:fs';
const dir = ${JSON.stringify(marks)};
writeFileSync(dir + '/z.tmpdir', process.env.TMPDIR ?? '');
writeFileSync(dir + '/z.running', '');
const others = readdirSync(dir).filter((f) => f.endsWith('.running') && f !== 'z.running');
const ok = others.length === 0 && existsSync(dir + '/a.ended') && existsSync(dir + '/b.ended');
writeFileSync(dir + '/z.ended', '');
rmSync(dir + '/z.running');
console.log(ok ? 'Total:     1\\nPassed:    1' : 'ran beside ' + others.join(', ') + '\\nTotal:     1\\nPassed:    0');
process.exit(ok ? 0 : 1);
`,
);

const FILES = ['a.test.ts', 'b.test.ts', 'c.test.ts', 'z.test.ts'];

function freshMarks(): void {
  rmSync(marks, { recursive: true, force: true });
  mkdirSync(marks);
}

test('--jobs 2: two files run at once, the run-alone one afterwards alone; each block whole; the counts; a TMPDIR per file, removed after', async () => {
  freshMarks();
  const blocks: string[] = [];
  const sum = await runFiles(fx, FILES, { jobs: 2, alone: { 'z.test.ts': 'runs alone (fixture)' }, write: (b) => blocks.push(b) });
  assert.is(blocks.length, 4, blocks.join(''));
  const head = (f: string) => blocks.find((b) => b.split('\n')[0]!.includes(` ${f} (`)) ?? '';
  assert.match(head('a.test.ts'), /^ok {3}a\.test\.ts \(1\/1, /, blocks.join(''));
  assert.match(head('b.test.ts'), /^ok {3}b\.test\.ts \(1\/1, /, blocks.join(''));
  assert.match(blocks.at(-1)!, /^ok {3}z\.test\.ts \(1\/1, /, 'the run-alone file ran last and alone');
  const c = head('c.test.ts');
  assert.match(c, /^FAIL c\.test\.ts \(0\/0, /);
  assert.match(c, /\n {4}c says 1\n {4}c says 2\n {4}c says 3\n/, "the failed file's output in its own block, indented");
  assert.match(c, /\n {4}c fails\n/);
  assert.equal(sum, { passed: 3, failed: 1, failedFiles: ['c.test.ts'] });
  const tmps = FILES.map((f) => readFileSync(join(marks, `${f.split('.')[0]}.tmpdir`), 'utf8'));
  assert.is(new Set(tmps).size, 4, `a TMPDIR per file: ${tmps.join(', ')}`);
  for (const t of tmps) {
    assert.ok(t.startsWith(tmpdir()), `${t} under the temp dir`);
    assert.not.ok(existsSync(t), `${t} removed when its file ended`);
  }
  // tsx's cache is the one folder the files share: each TMPDIR links it to the runner's, which outlives them.
  const shared = realpathSync(join(tmpdir(), TSX_CACHE));
  assert.equal([readFileSync(join(marks, 'a.tsx'), 'utf8'), readFileSync(join(marks, 'b.tsx'), 'utf8')], [shared, shared]);
});

test('--jobs 1: one file at a time (a never sees b running)', async () => {
  freshMarks();
  const blocks: string[] = [];
  process.env.PAIR_WAIT_MS = '500';
  try {
    const sum = await runFiles(fx, ['a.test.ts', 'b.test.ts'], { jobs: 1, alone: {}, write: (b) => blocks.push(b) });
    assert.match(blocks[0]!, /^FAIL a\.test\.ts/, blocks.join(''));
    assert.match(blocks[0]!, /never saw b running/);
    assert.match(blocks[1]!, /^ok {3}b\.test\.ts/, 'b saw a ended');
    assert.equal(sum.failedFiles, ['a.test.ts']);
  } finally {
    delete process.env.PAIR_WAIT_MS;
  }
});

test("the closing lines: files counted with their noun (a single file read `1 files`), then the tests' `N passed, N failed`", () => {
  const sum = { passed: 5, failed: 0, failedFiles: [] };
  assert.is(runTally(1, 1200, 2, sum), '1 file in 1s, 2 at a time\n5 passed, 0 failed\n');
  assert.is(runTally(4, 3000, 2, { passed: 3, failed: 1, failedFiles: ['c.test.ts'] }), '4 files in 3s, 2 at a time\n3 passed, 1 failed\n');
});

test('--jobs N, --jobs=N, -j N, env TEST_JOBS; default 2 or the CPUs if fewer; a bad count is an error', () => {
  const limits = { fileTimeoutMs: DEFAULT_FILE_TIMEOUT_S * 1000, killGraceMs: DEFAULT_KILL_GRACE_S * 1000 };
  assert.equal(parseArgs(['router', '--jobs', '3', 'codec'], {}), { jobs: 3, filters: ['router', 'codec'], ...limits });
  assert.equal(parseArgs(['--jobs=1'], { TEST_JOBS: '4' }), { jobs: 1, filters: [], ...limits }, 'the option over the env');
  assert.equal(parseArgs(['-j', '5'], {}), { jobs: 5, filters: [], ...limits });
  assert.equal(parseArgs(['x'], { TEST_JOBS: '4' }), { jobs: 4, filters: ['x'], ...limits });
  assert.equal(parseArgs([], {}), { jobs: Math.min(DEFAULT_JOBS, availableParallelism()), filters: [], ...limits });
  assert.is(DEFAULT_JOBS, 2);
  for (const bad of ['0', '-1', '1.5', 'two'])
    assert.match(parseArgs(['--jobs', bad], {}).error ?? '', /--jobs \/ TEST_JOBS: expected a whole number >= 1/, bad);
  assert.match(parseArgs([], { TEST_JOBS: 'x' }).error ?? '', /got "x"/);
});

test('--file-timeout S / TEST_FILE_TIMEOUT (default 300 s, 0: none), --kill-grace S / TEST_KILL_GRACE (default 5 s); a bad value is an error', () => {
  assert.is(DEFAULT_FILE_TIMEOUT_S, 300);
  assert.is(DEFAULT_KILL_GRACE_S, 5);
  const a = parseArgs(['--file-timeout', '90', 'router', '--kill-grace=0.5'], {});
  assert.equal([a.fileTimeoutMs, a.killGraceMs, a.filters, a.error], [90_000, 500, ['router'], undefined]);
  const b = parseArgs(['--file-timeout=0'], { TEST_FILE_TIMEOUT: '60', TEST_KILL_GRACE: '2' });
  assert.equal([b.fileTimeoutMs, b.killGraceMs], [0, 2_000], 'the option over the env; 0 is no limit');
  assert.is(parseArgs([], { TEST_FILE_TIMEOUT: '60' }).fileTimeoutMs, 60_000);
  for (const bad of ['-1', 'soon', 'Infinity'])
    assert.match(parseArgs(['--file-timeout', bad], {}).error ?? '', /--file-timeout \/ TEST_FILE_TIMEOUT \(seconds\): expected a number >= 0/, bad);
  assert.match(parseArgs([], { TEST_KILL_GRACE: 'x' }).error ?? '', /--kill-grace \/ TEST_KILL_GRACE \(seconds\): expected a number >= 0, got "x"/);
});

test('each file gets the environment `env` gives as it starts: TEST_DIST=1 for the files started after the build', async () => {
  freshMarks();
  for (const n of ['d1', 'd2'])
    writeFileSync(
      join(fx, `${n}.test.ts`),
      `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marks)} + '/${n}.dist', process.env.TEST_DIST ?? 'unset');\nconsole.log('Total:     1\\nPassed:    1');\n`,
    );
  let calls = 0;
  const env = (): Record<string, string> => (calls++ === 0 ? {} : { TEST_DIST: '1' });
  const blocks: string[] = [];
  const sum = await runFiles(fx, ['d1.test.ts', 'd2.test.ts'], { jobs: 1, alone: {}, env, write: (b) => blocks.push(b) });
  assert.is(sum.failed, 0, blocks.join(''));
  assert.equal([readFileSync(join(marks, 'd1.dist'), 'utf8'), readFileSync(join(marks, 'd2.dist'), 'utf8')], ['unset', '1']);
});

test('the build: TEST_DIST=1 once scripts/build.mjs exited 0; none while it runs, nor after it failed (its output kept)', async () => {
  const root = (name: string, code: number) => {
    const dir = join(fx, name);
    mkdirSync(join(dir, 'scripts'), { recursive: true });
    writeFileSync(join(dir, 'scripts/build.mjs'), `console.log('${name} build'); setTimeout(() => process.exit(${code}), 200);\n`);
    return dir;
  };
  const good = startBuild(root('good', 0));
  assert.equal(good.env(), {}, 'nothing while the build runs');
  const done = await good.ended;
  assert.ok(done.ok && done.ms >= 200, JSON.stringify(done));
  assert.equal(good.env(), { TEST_DIST: '1' });
  const bad = startBuild(root('bad', 1));
  const failed = await bad.ended;
  assert.not.ok(failed.ok);
  assert.match(failed.output, /bad build/);
  assert.equal(bad.env(), {}, 'a failed build: the files run the sources');
});

test.after(() => rmSync(fx, { recursive: true, force: true }));
test.run();
