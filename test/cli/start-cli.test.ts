/**
 * `pipeline start` as a user runs it, against a real Redis (REDIS_URL set: no redis-server of its
 * own) with the rules-only stages: an explicit `--input` is relative to the current directory even
 * when spelt like the default (it had read the package's data/sample.jsonl); `--serve` binds its
 * port before the job runs (a port in use was found after the whole run and its summary); rejected
 * lines are named where they are kept and exit 1, as `produce` (they had exited 0, their file
 * unnamed), and the job's temp folder (worker logs) is removed at the end, normally or on SIGTERM,
 * unless it holds something to read (rejected lines, warnings) or `--keep-logs` asks: then it is
 * named (every run, its log holding the workers' info lines, had left one in $TMPDIR, and a signal
 * left it unnamed); an `--input` that cannot be read is named before anything starts (workers had
 * started, then failed on a bare `ENOENT`).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BIN, exited, writeConfig } from '../helpers/pipeline.js';
import { killAll, startedPids } from '../helpers/processes.js';
import { randomPipeline, startRedis, waitFor } from '../helpers/redis.js';

const dir = mkdtempSync(join(tmpdir(), 'start-cli-'));
const server = await startRedis();

/** `pipeline start <args>` from `cwd`, to its end (bounded by `timeoutMs`). */
function start(args: string[], cwd = dir, timeoutMs = 120_000, logLevel = 'warn', env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [BIN, '--config', writeConfig(randomPipeline()), 'start', '--timeout', '60000', ...args], {
    cwd,
    encoding: 'utf8',
    // Its temp folders (pipeline-job-*) in this test's folder, removed at the end.
    env: { ...process.env, REDIS_URL: server.url, LOG_LEVEL: logLevel, TMPDIR: dir, ...env },
    timeout: timeoutMs,
  });
}

const jobDirs = (tmp: string) => readdirSync(tmp).filter((f) => f.startsWith('pipeline-job-'));

const lines = (n: number) => Array.from({ length: n }, (_, i) => JSON.stringify({ id: `r${i}`, title: `item ${i}`, mpn: `M${i}` })).join('\n') + '\n';

test('an explicit --input spelt like the default (data/sample.jsonl) is read from the current directory, not the package', () => {
  const cwd = join(dir, 'wd');
  mkdirSync(join(cwd, 'data'), { recursive: true });
  writeFileSync(join(cwd, 'data', 'sample.jsonl'), lines(2));
  for (const input of ['data/sample.jsonl', './data/sample.jsonl']) {
    const r = start(['--input', input], cwd);
    assert.is(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^ {2}produced {3}2$/m, `${input}: ${r.stdout}`);
  }
});

test('an --input that cannot be read is named before anything starts, as produce names it (workers had started, then a bare ENOENT)', () => {
  const tmp = mkdtempSync(join(dir, 'tmp-'));
  mkdirSync(join(dir, 'a-folder'), { recursive: true });
  for (const [input, why] of [
    ['missing.jsonl', 'cannot read it \\(ENOENT\\)'],
    ['a-folder', 'a directory, not a JSONL file'],
  ] as const) {
    const r = start(['--input', input], dir, 120_000, 'info', { TMPDIR: tmp });
    assert.is(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr, new RegExp(`^error: --input ${input}: ${why}$`, 'm'));
    assert.not.match(r.stderr, /supervisor\.started|job\.redis_started/, 'nothing starts for an input it cannot read');
    assert.equal(jobDirs(tmp), []);
  }
});

test('--serve on a port in use fails before anything is produced, with one error line (as up --serve)', async () => {
  const busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  try {
    const port = (busy.address() as { port: number }).port;
    writeFileSync(join(dir, 'three.jsonl'), lines(3));
    // The port is held (bound) while spawnSync blocks this process.
    const r = start(['--input', 'three.jsonl', '--serve', '--port', String(port)], dir, 120_000, 'info');
    assert.is(r.status, 1, r.stdout + r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`^error: cannot serve the HTTP API on 127\\.0\\.0\\.1:${port}: the port is in use .*--port N or env PORT \\[listen EADDRINUSE`, 'm'),
    );
    assert.not.match(r.stderr, /"event":"start\.produced"/, 'the job ran before the port was tried');
    assert.not.match(r.stdout, /produced/);
  } finally {
    busy.close();
  }
});

test('rejected lines: named where they are kept, exit 1 as produce (it was 0); the kept temp folder is named', () => {
  const tmp = mkdtempSync(join(dir, 'tmp-'));
  writeFileSync(join(dir, 'mixed.jsonl'), lines(2) + 'not json\n{"id":"x"}\n');
  const r = start(['--input', 'mixed.jsonl'], dir, 120_000, 'info', { TMPDIR: tmp });
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /^ {2}produced {3}2$/m);
  assert.match(r.stdout, /^ {2}rejected {3}2$/m);
  const jobs = readdirSync(tmp).filter((f) => f.startsWith('pipeline-job-'));
  assert.is(jobs.length, 1, String(jobs));
  const job = join(tmp, jobs[0]!);
  assert.ok(r.stdout.includes(`  rejected lines kept in ${join(job, 'rejects.jsonl')}\n`), r.stdout);
  assert.ok(r.stdout.includes(`  worker logs: ${join(job, 'workers.log')} (kept: rejected lines; rm -r ${job} when done)\n`), r.stdout);
  assert.is(readFileSync(join(job, 'rejects.jsonl'), 'utf8').trim().split('\n').length, 2);
});

for (const level of ['error', 'info']) {
  test(`a clean run at LOG_LEVEL=${level} removes its temp folder and names none (at info, the default, every run had kept one)`, () => {
    const tmp = mkdtempSync(join(dir, 'tmp-'));
    writeFileSync(join(dir, 'two.jsonl'), lines(2));
    const r = start(['--input', 'two.jsonl'], dir, 120_000, level, { TMPDIR: tmp });
    assert.is(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^ {2}produced {3}2$/m);
    assert.not.match(r.stdout + r.stderr, /worker logs:|rejected lines kept/);
    assert.ok(existsSync(tmp));
    assert.equal(jobDirs(tmp), []);
  });
}

test("--keep-logs keeps a clean run's temp folder and names it in the summary", () => {
  const tmp = mkdtempSync(join(dir, 'tmp-'));
  writeFileSync(join(dir, 'two.jsonl'), lines(2));
  const r = start(['--input', 'two.jsonl', '--keep-logs'], dir, 120_000, 'info', { TMPDIR: tmp });
  assert.is(r.status, 0, r.stdout + r.stderr);
  const jobs = jobDirs(tmp);
  assert.is(jobs.length, 1, String(jobs));
  const job = join(tmp, jobs[0]!);
  assert.ok(r.stdout.includes(`  worker logs: ${join(job, 'workers.log')} (kept: --keep-logs; rm -r ${job} when done)\n`), r.stdout);
  assert.match(readFileSync(join(job, 'workers.log'), 'utf8'), /"event":"worker\.started"/);
});

test('a run that fails naming the worker log keeps it, even when the workers wrote nothing (it named a file it had removed)', () => {
  const tmp = mkdtempSync(join(dir, 'tmp-'));
  writeFileSync(join(dir, 'three.jsonl'), lines(3));
  // Not idle within 1 ms (its first look finds no group yet): the error names the worker log, which at warn is empty.
  const r = start(['--input', 'three.jsonl', '--timeout', '1'], dir, 120_000, 'warn', { TMPDIR: tmp });
  assert.is.not(r.status, 0, r.stdout + r.stderr);
  const named = /worker logs: (\S+workers\.log)/.exec(r.stderr)?.[1];
  assert.ok(named, r.stderr);
  assert.ok(existsSync(named), `the error names ${named}: it is there`);
  assert.match(r.stderr, /kept: /, r.stderr);
});

for (const keep of [false, true]) {
  test(`SIGTERM mid-run (exit 130)${keep ? ' with --keep-logs: the folder is kept and named on stderr' : ': the temp folder is removed (it was left behind, unnamed)'}`, async () => {
    const tmp = mkdtempSync(join(dir, 'tmp-'));
    const input = join(dir, `big-${keep}.jsonl`);
    writeFileSync(input, lines(40_000));
    const child = spawn(process.execPath, [BIN, '--config', writeConfig(randomPipeline()), 'start', '--input', input, ...(keep ? ['--keep-logs'] : [])], {
      env: { ...process.env, REDIS_URL: server.url, LOG_LEVEL: 'info', TMPDIR: tmp },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    try {
      await waitFor('records produced', () => (out + err).includes('"event":"start.produced"'), 60_000);
      assert.is(jobDirs(tmp).length, 1, 'the job made its folder');
      assert.not.match(out, /done in/, 'the run ended before the signal');
      child.kill('SIGTERM');
      assert.is(await exited(child), 130, out + err);
      const jobs = jobDirs(tmp);
      if (!keep) {
        assert.equal(jobs, [], out + err);
        assert.not.match(out + err, /worker logs:/);
      } else {
        assert.is(jobs.length, 1, String(jobs));
        const job = join(tmp, jobs[0]!);
        assert.ok(err.includes(`  worker logs: ${join(job, 'workers.log')} (kept: --keep-logs; rm -r ${job} when done)\n`), err);
      }
    } finally {
      child.kill('SIGKILL');
      killAll(startedPids(out + err));
    }
  });
}

test.after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});
test.run();
