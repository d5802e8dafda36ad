/**
 * `pipeline start` as a user runs it, against a real Redis (REDIS_URL set: no redis-server of its
 * own) with the rules-only stages: an explicit `--input` is relative to the current directory even
 * when spelt like the default (it had read the package's data/sample.jsonl); `--serve` binds its
 * port before the job runs (a port in use was found after the whole run and its summary); rejected
 * lines are named where they are kept and exit 1, as `produce` (they had exited 0, their file
 * unnamed), and the job's temp folder is removed when nothing was written to it, else named.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BIN, writeConfig } from './helpers/pipeline.js';
import { randomPipeline, startRedis } from './helpers/redis.js';

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
  assert.ok(r.stdout.includes(`  worker logs: ${join(job, 'workers.log')} (kept; rm -r ${job} when done)\n`), r.stdout);
  assert.is(readFileSync(join(job, 'rejects.jsonl'), 'utf8').trim().split('\n').length, 2);
});

test('a run that wrote nothing to its temp folder removes it (every run had left one in /tmp)', () => {
  const tmp = mkdtempSync(join(dir, 'tmp-'));
  writeFileSync(join(dir, 'two.jsonl'), lines(2));
  // LOG_LEVEL=error: the workers log nothing, no line is rejected.
  const r = start(['--input', 'two.jsonl'], dir, 120_000, 'error', { TMPDIR: tmp });
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^ {2}produced {3}2$/m);
  assert.not.match(r.stdout, /worker logs|rejected lines kept/);
  assert.ok(existsSync(tmp));
  assert.equal(
    readdirSync(tmp).filter((f) => f.startsWith('pipeline-job-')),
    [],
  );
});

test.after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});
test.run();
