/**
 * What test/run.ts does, as functions test/run.test.ts can drive: run test files, each in its own
 * Node process and its own TMPDIR, `jobs` at a time, the run-alone ones afterwards one by one,
 * handing over each file's block of output whole when the file ends.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';

/** Files run at once unless --jobs / TEST_JOBS says otherwise (capped by the CPUs). */
export const DEFAULT_JOBS = 2;

/** `--jobs N` / `--jobs=N` / `-j N` (else env TEST_JOBS, else DEFAULT_JOBS or the CPUs if fewer) and the filter words; `error` for a bad count. */
export function parseArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): { jobs: number; filters: string[]; error?: string } {
  const filters: string[] = [];
  let given: string | undefined = env.TEST_JOBS;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--jobs' || a === '-j') given = argv[++i] ?? '';
    else if (a.startsWith('--jobs=')) given = a.slice('--jobs='.length);
    else filters.push(a);
  }
  if (given === undefined || given === '') return { jobs: Math.max(1, Math.min(DEFAULT_JOBS, availableParallelism())), filters };
  const n = Number(given);
  if (!Number.isInteger(n) || n < 1) return { jobs: 1, filters, error: `--jobs / TEST_JOBS: expected a whole number >= 1, got ${JSON.stringify(given)}` };
  return { jobs: n, filters };
}

export interface FileResult {
  file: string;
  /** Tests passed (uvu's `Passed:`). */
  ok: number;
  /** Tests failed; at least 1 when the process did not exit 0. */
  bad: number;
  /** `ok   f (p/t, s)` or `FAIL f (...)` with the file's output indented below it. */
  block: string;
}

/** One file in its own process with its own TMPDIR (mode 1777, removed when it ends). */
export function runFile(dir: string, f: string): Promise<FileResult> {
  const t0 = Date.now();
  const tmp = mkdtempSync(join(tmpdir(), `test-${f.replace(/\.test\.ts$/, '')}-`));
  chmodSync(tmp, 0o1777); // as /tmp: servers run as another user (PostgreSQL as `postgres` under root) make their dirs here
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', join(dir, f)], {
    env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'error', TMPDIR: tmp },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.once('error', (err) => (stderr += `${err.message}\n`));
  return new Promise((res) => {
    child.once('close', (status) => {
      rmSync(tmp, { recursive: true, force: true });
      const out = stdout + stderr;
      // uvu's summary: "Total:  N", "Passed: N"
      const total = Number(/Total:\s+(\d+)/.exec(out)?.[1] ?? 0);
      const ok = Number(/Passed:\s+(\d+)/.exec(out)?.[1] ?? 0);
      const bad = status === 0 ? total - ok : Math.max(1, total - ok);
      const secs = ((Date.now() - t0) / 1000).toFixed(1);
      let block = `${bad === 0 ? 'ok  ' : 'FAIL'} ${f} (${ok}/${total}, ${secs}s)\n`;
      if (bad > 0)
        block +=
          out
            .split('\n')
            .map((l) => `    ${l}`)
            .join('\n') + '\n';
      res({ file: f, ok, bad, block });
    });
  });
}

/** `files` of `dir`, `jobs` at a time; `done` gets each result as its file ends. */
export async function runPool(dir: string, files: readonly string[], jobs: number, done: (r: FileResult) => void): Promise<void> {
  const queue = [...files];
  const lane = async () => {
    for (let f = queue.shift(); f !== undefined; f = queue.shift()) done(await runFile(dir, f));
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
  opts: { jobs: number; alone: Readonly<Record<string, string>>; write: (block: string) => void },
): Promise<RunSummary> {
  const sum: RunSummary = { passed: 0, failed: 0, failedFiles: [] };
  const done = (r: FileResult) => {
    opts.write(r.block);
    sum.passed += r.ok;
    sum.failed += r.bad;
    if (r.bad > 0) sum.failedFiles.push(r.file);
  };
  await runPool(
    dir,
    files.filter((f) => !(f in opts.alone)),
    opts.jobs,
    done,
  );
  await runPool(
    dir,
    files.filter((f) => f in opts.alone),
    1,
    done,
  );
  sum.failedFiles.sort();
  return sum;
}
