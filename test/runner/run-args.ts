/**
 * The command line of test/runner/run.ts (`--jobs`, `--file-timeout`, `--kill-grace`, filter words) and
 * the environment variables standing for its options, with their defaults (docs/development.md).
 */
import { availableParallelism } from 'node:os';

/** Files run at once unless --jobs / TEST_JOBS says otherwise (capped by the CPUs). */
export const DEFAULT_JOBS = 2;

/**
 * How long one file may run before it is killed and counted failed (--file-timeout / env
 * TEST_FILE_TIMEOUT, seconds; 0: no limit). The slowest file takes about 50 s on CI: 300 s leaves
 * a slow or shared machine six times that, and a hung file costs 5 minutes, not the CI's 90.
 * @defaultValue 300
 */
export const DEFAULT_FILE_TIMEOUT_S = 300;

/**
 * How long a timed-out file's processes get between SIGTERM and SIGKILL (--kill-grace / env
 * TEST_KILL_GRACE, seconds): redis-server and PostgreSQL stop on SIGTERM within about a second.
 * @defaultValue 5
 */
export const DEFAULT_KILL_GRACE_S = 5;

export interface RunArgs {
  jobs: number;
  filters: string[];
  /** 0: no limit. */
  fileTimeoutMs: number;
  killGraceMs: number;
  error?: string;
}

/** A count or a number of seconds given on the command line or in the environment; an error naming `what` when it is not one. */
function number(given: string | undefined, what: string, fallback: number, whole: boolean, min: number): number | string {
  if (given === undefined || given === '') return fallback;
  const n = Number(given);
  if (whole ? Number.isInteger(n) && n >= min : Number.isFinite(n) && n >= min) return n;
  return `${what}: expected a ${whole ? 'whole number' : 'number'} >= ${min}, got ${JSON.stringify(given)}`;
}

/**
 * `--jobs N` / `--jobs=N` / `-j N` (else env TEST_JOBS, else DEFAULT_JOBS or the CPUs if fewer),
 * `--file-timeout S` (TEST_FILE_TIMEOUT), `--kill-grace S` (TEST_KILL_GRACE) and the filter
 * words; `error` for a bad value.
 */
export function parseArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): RunArgs {
  const filters: string[] = [];
  const given: Record<'jobs' | 'file-timeout' | 'kill-grace', string | undefined> = {
    jobs: env.TEST_JOBS,
    'file-timeout': env.TEST_FILE_TIMEOUT,
    'kill-grace': env.TEST_KILL_GRACE,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const name = a === '-j' ? 'jobs' : /^--(jobs|file-timeout|kill-grace)(=|$)/.exec(a)?.[1];
    if (name === undefined) filters.push(a);
    else given[name as keyof typeof given] = a.includes('=') ? a.slice(a.indexOf('=') + 1) : (argv[++i] ?? '');
  }
  const jobs = number(given.jobs, '--jobs / TEST_JOBS', Math.max(1, Math.min(DEFAULT_JOBS, availableParallelism())), true, 1);
  const timeout = number(given['file-timeout'], '--file-timeout / TEST_FILE_TIMEOUT (seconds)', DEFAULT_FILE_TIMEOUT_S, false, 0);
  const grace = number(given['kill-grace'], '--kill-grace / TEST_KILL_GRACE (seconds)', DEFAULT_KILL_GRACE_S, false, 0);
  const error = [jobs, timeout, grace].find((v) => typeof v === 'string');
  const n = (v: number | string, fallback: number) => (typeof v === 'number' ? v : fallback);
  return {
    jobs: n(jobs, 1),
    filters,
    fileTimeoutMs: n(timeout, DEFAULT_FILE_TIMEOUT_S) * 1000,
    killGraceMs: n(grace, DEFAULT_KILL_GRACE_S) * 1000,
    ...(error === undefined ? {} : { error }),
  };
}
