/**
 * What test/runner/run.ts does, as functions test/runner/run.test.ts can drive: find the test
 * files under test/, run them, each in its own Node process, process group and TMPDIR, `jobs` at
 * a time, the run-alone ones afterwards one by one, handing over each file's block of output whole
 * when the file ends; a file over its time limit is ended with all it started
 * (test/runner/run-tree.ts) and counted failed.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { counted } from '../../lib/core/counted.js';
import { DEFAULT_FILE_TIMEOUT_S, DEFAULT_KILL_GRACE_S } from './run-args.js';
import { killTree, proc } from './run-tree.js';

export interface FileResult {
  file: string;
  /** Tests passed (uvu's `Passed:`; for a file ended before its summary, the passes uvu had marked). */
  ok: number;
  /** Tests failed; at least 1 when the process did not exit 0 or was ended. */
  bad: number;
  /** `ok   f (p/t, s)` or `FAIL f (...)` with the file's output indented below it. */
  block: string;
}

export interface FileOptions {
  /** A file running longer is ended (its process tree) and counted failed; 0: no limit. @defaultValue 300000 (DEFAULT_FILE_TIMEOUT_S) */
  fileTimeoutMs?: number;
  /** Between SIGTERM and SIGKILL of an ended file's processes, and then the longest wait for its output to close. @defaultValue 5000 (DEFAULT_KILL_GRACE_S) */
  killGraceMs?: number;
  /** Variables added to the environment of each file, read as the file starts (TEST_DIST=1 once the run's build is done: test/runner/run-build.ts). */
  env?: () => Record<string, string>;
}

/** Folders of test/ that hold no test files of their own: shared code and the files tests start. */
const NOT_TESTS = new Set(['helpers', 'fixtures']);

/**
 * Every `*.test.ts` under `dir` (test/), in its folders at any depth (NOT_TESTS and dot folders
 * aside), as paths relative to `dir` with `/` (`topologies/cluster-cli.test.ts`), sorted.
 */
export function testFiles(dir: string, under = ''): string[] {
  return readdirSync(join(dir, under), { withFileTypes: true })
    .flatMap((e) => {
      const path = under ? `${under}/${e.name}` : e.name;
      if (e.isDirectory()) return e.name.startsWith('.') || (!under && NOT_TESTS.has(e.name)) ? [] : testFiles(dir, path);
      return e.name.endsWith('.test.ts') ? [path] : [];
    })
    .sort();
}

/** The entries of `alone` that name none of `files` (a file moved or renamed since), sorted. */
export function unmatched(alone: Readonly<Record<string, string>>, files: readonly string[]): string[] {
  const known = new Set(files);
  return Object.keys(alone)
    .filter((f) => !known.has(f))
    .sort();
}

/** How to end each file running now (stopRunning). */
const running = new Set<(why: string) => Promise<void>>();
/** Set by stopRunning, for the rest of the process: no further file starts. */
let stopping = false;

/** End every file running (its process tree, as for a timeout, `why` in its block) and start no other: test/runner/run.ts on SIGINT / SIGTERM. */
export async function stopRunning(why: string): Promise<void> {
  stopping = true;
  await Promise.all([...running].map((stop) => stop(why)));
}

/**
 * tsx keeps what it transformed in `<temp dir>/tsx-<uid>`. In a fresh TMPDIR per file, each file and
 * the first CLI and worker process it starts would transform the sources again (about 1 s of CPU
 * each, 2 files at a time); each file's TMPDIR links that folder to the runner's own, so the run
 * transforms each source once. tsx names its entries by content hash and skips one half written.
 */
export const TSX_CACHE = `tsx-${process.geteuid?.() ?? userInfo().username}`;

function shareTsxCache(tmp: string): void {
  const shared = join(tmpdir(), TSX_CACHE);
  mkdirSync(shared, { recursive: true });
  symlinkSync(shared, join(tmp, TSX_CACHE)); // rmSync of tmp removes the link, not the shared folder
}

/** The tests uvu has marked passed so far (a `• ` each): what a file ended before its summary got through. */
const passMarks = (out: string): number => out.split('• ').length - 1;

/** What a file's block says when it was ended: why, and how far its tests had come by uvu's output. */
function endedLine(why: string, out: string, killGraceMs: number): string {
  const summary = /Total:\s+\d+/.test(out);
  const passes = passMarks(out);
  const progress = summary
    ? "its tests had ended (uvu's summary above) but the process did not exit: something it opened was left open"
    : `${passes} test${passes === 1 ? '' : 's'} had passed (uvu's • marks), the next had not ended`;
  return `${why}: its processes were sent SIGTERM, SIGKILL after ${killGraceMs / 1000} s; ${progress}`;
}

/**
 * One file in its own process (its own process group, so all it starts can be ended with it) and
 * its own TMPDIR (mode 1777, removed when it ends). Over `fileTimeoutMs` it is ended and counted
 * failed, its output so far in its block with a line `timed out after N s`.
 */
export function runFile(dir: string, f: string, limits: FileOptions = {}): Promise<FileResult> {
  const timeoutMs = limits.fileTimeoutMs ?? DEFAULT_FILE_TIMEOUT_S * 1000;
  const graceMs = limits.killGraceMs ?? DEFAULT_KILL_GRACE_S * 1000;
  const t0 = Date.now();
  const tmp = mkdtempSync(join(tmpdir(), `test-${f.replace(/\.test\.ts$/, '').replaceAll('/', '-')}-`)); // f may be folder/name
  chmodSync(tmp, 0o1777); // as /tmp: servers run as another user (PostgreSQL as `postgres` under root) make their dirs here
  shareTsxCache(tmp);
  // TEST_DIST is this run's word (its own build succeeded), never inherited: a run inside a run (the
  // runner's own tests) would otherwise send its files to a dist/ it did not build.
  const { TEST_DIST: _outer, ...inherited } = process.env;
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', join(dir, f)], {
    env: { ...inherited, LOG_LEVEL: process.env.LOG_LEVEL ?? 'error', ...limits.env?.(), TMPDIR: tmp },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.once('error', (err) => (stderr += `${err.message}\n`));
  const closed = new Promise((r) => child.once('close', r));
  return new Promise((res) => {
    let ended: string | undefined;
    let killing: Promise<void> | undefined;
    let finished = false;
    const finish = (status: number | null) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      running.delete(stop);
      rmSync(tmp, { recursive: true, force: true });
      let out = stdout + stderr;
      // uvu's summary: "Total:  N", "Passed: N"; a file ended before it: the passes it had marked.
      const total = Number(/Total:\s+(\d+)/.exec(out)?.[1] ?? 0);
      const ok = Number(/Passed:\s+(\d+)/.exec(out)?.[1] ?? (ended ? passMarks(out) : 0));
      const bad = status === 0 && !ended ? total - ok : Math.max(1, total - ok);
      const secs = ((Date.now() - t0) / 1000).toFixed(1);
      let block = `${bad === 0 ? 'ok  ' : 'FAIL'} ${f} (${ok}/${ended && !total ? '?' : total}, ${secs}s)${ended ? ` ${ended}` : ''}\n`;
      if (ended) out += `${out.endsWith('\n') || !out ? '' : '\n'}${endedLine(ended, out, graceMs)}\n`;
      if (bad > 0)
        block +=
          out
            .split('\n')
            .map((l) => `    ${l}`)
            .join('\n') + '\n';
      res({ file: f, ok, bad, block });
    };
    const stop = (why: string): Promise<void> => {
      if (finished || child.pid === undefined) return Promise.resolve();
      ended ??= why;
      const root = child.exitCode === null && child.signalCode === null ? proc(child.pid) : undefined;
      killing ??= killTree(child.pid, root, graceMs).then(async () => {
        // A process it started that the kill did not reach (out of its group, its parent gone) may hold its output open.
        await Promise.race([closed, new Promise((r) => setTimeout(r, graceMs).unref())]);
        child.stdout.destroy();
        child.stderr.destroy();
        if (child.exitCode !== null || child.signalCode !== null) finish(child.exitCode);
      });
      return killing;
    };
    running.add(stop);
    const timer = timeoutMs > 0 ? setTimeout(() => void stop(`timed out after ${timeoutMs / 1000} s`), timeoutMs) : undefined;
    child.once('close', (status) => finish(status));
  });
}

/** `files` of `dir`, `jobs` at a time (none started once stopRunning was called); `done` gets each result as its file ends. */
export async function runPool(dir: string, files: readonly string[], jobs: number, done: (r: FileResult) => void, limits: FileOptions = {}): Promise<void> {
  const queue = [...files];
  const lane = async () => {
    for (let f = queue.shift(); f !== undefined && !stopping; f = queue.shift()) done(await runFile(dir, f, limits));
  };
  await Promise.all(Array.from({ length: Math.min(jobs, files.length) }, lane));
}

export interface RunSummary {
  passed: number;
  failed: number;
  /** Sorted. */
  failedFiles: string[];
}

/** The files not in `alone` `jobs` at a time, then those in it one by one; `write` gets each file's block whole, as it ends. */
export async function runFiles(
  dir: string,
  files: readonly string[],
  opts: { jobs: number; alone: Readonly<Record<string, string>>; write: (block: string) => void } & FileOptions,
): Promise<RunSummary> {
  const sum: RunSummary = { passed: 0, failed: 0, failedFiles: [] };
  const done = (r: FileResult) => {
    opts.write(r.block);
    sum.passed += r.ok;
    sum.failed += r.bad;
    if (r.bad > 0) sum.failedFiles.push(r.file);
  };
  const limits: FileOptions = { fileTimeoutMs: opts.fileTimeoutMs, killGraceMs: opts.killGraceMs, env: opts.env };
  await runPool(
    dir,
    files.filter((f) => !(f in opts.alone)),
    opts.jobs,
    done,
    limits,
  );
  await runPool(
    dir,
    files.filter((f) => f in opts.alone),
    1,
    done,
    limits,
  );
  sum.failedFiles.sort();
  return sum;
}

/** The run's last two lines: how many files in how long, then how many tests `passed, N failed`. */
export const runTally = (files: number, ms: number, jobs: number, sum: RunSummary): string =>
  `${counted(files, 'file')} in ${(ms / 1000).toFixed(0)}s, ${jobs} at a time\n${sum.passed} passed, ${sum.failed} failed\n`;
