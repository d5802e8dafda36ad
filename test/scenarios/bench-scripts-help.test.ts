/**
 * Every benchmark script answers `--help` with its options and exits at once, without starting a
 * redis-server or running anything (`npm run bench:handoff -- --help` once ran the whole benchmark),
 * and refuses a malformed option naming it; bench/profile-top.ts's shares are of the time not idle.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const REPO = resolve(import.meta.dirname, '../..');
const scripts = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
/** The bench scripts and the file each runs. */
const BENCHES = Object.entries(scripts)
  .filter(([name]) => name.startsWith('bench'))
  .map(([name, cmd]) => [name, /(bench\/[\w-]+\.ts)/.exec(cmd)?.[1]] as const)
  .filter((e): e is readonly [string, string] => e[1] !== undefined);

const run = (file: string, ...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', file, ...args], { cwd: REPO, encoding: 'utf8', timeout: 30_000, env: { ...process.env, REDIS_URL: '' } });

test('the bench scripts are found in package.json', () => {
  assert.ok(
    BENCHES.some(([name]) => name === 'bench:handoff'),
    JSON.stringify(BENCHES),
  );
});

for (const [name, file] of BENCHES) {
  test(`npm run ${name} -- --help prints its options and exits 0 without running (${file})`, () => {
    const r = run(file, '--help');
    assert.is(r.error, undefined, `${name} --help did not exit within 30 s`);
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, /^\s*usage:/i, 'the first thing printed is the usage, not a run');
    assert.match(r.stdout, /--[a-z]/);
  });
}

test('npm run bench:handoff -- --batch x is refused naming the option', () => {
  const r = run('bench/handoff-cost.ts', '--batch', 'x');
  assert.is.not(r.status, 0);
  assert.match(r.stderr, /--batch/);
});

test('bench/profile-top.ts gives idle time no share of the time not idle, and the shares of the rest sum to 100 %', () => {
  const dir = mkdtempSync(join(tmpdir(), 'profile-top-'));
  const file = join(dir, 'a.cpuprofile');
  const frame = (functionName: string, url = '') => ({ functionName, url, lineNumber: 0 });
  const nodes = [
    { id: 1, callFrame: frame('(idle)') },
    { id: 2, callFrame: frame('work', 'file:///x/work.js') },
    { id: 3, callFrame: frame('more', 'file:///x/more.js') },
  ];
  // 60 ms idle, 30 ms in work, 10 ms in more
  const samples = [...Array<number>(6).fill(1), ...Array<number>(3).fill(2), 3];
  writeFileSync(file, JSON.stringify({ nodes, startTime: 0, endTime: 100_000, samples, timeDeltas: samples.map(() => 10_000) }));
  const r = run('bench/profile-top.ts', file);
  rmSync(dir, { recursive: true, force: true });
  assert.is(r.status, 0, r.stderr);
  const shares = [...r.stdout.matchAll(/ ms +([\d.]+)% /g)].map((m) => Number(m[1]));
  assert.equal(shares, [75, 25], r.stdout);
  assert.match(r.stdout, /60 ms +- +\(idle\)/);
});

test.run();
