import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The worker log's name in the job's folder. */
export const WORKER_LOG = 'workers.log';

/** Why a job keeps its folder, or undefined when nothing in it is worth reading. */
export type KeepReason = string;

/** A worker-log line a user wants to read: a JSON line above info, or a line no logger wrote (a crash's stack trace). */
function notable(line: string): boolean {
  if (line.trim() === '') return false;
  try {
    const level = (JSON.parse(line) as { level?: unknown }).level;
    return level !== 'info' && level !== 'debug';
  } catch {
    return true;
  }
}

/** What in the job's folder is worth keeping: rejected lines (any file besides the worker log with something in it), warnings or errors in the log. */
export function folderReason(dir: string): KeepReason | undefined {
  const files = readdirSync(dir);
  if (files.some((f) => f !== WORKER_LOG && statSync(join(dir, f)).size > 0)) return 'rejected lines';
  if (files.includes(WORKER_LOG) && readFileSync(join(dir, WORKER_LOG), 'utf8').split('\n').some(notable)) return 'the worker log has warnings or errors';
  return undefined;
}

/**
 * At the end of a job (done, failed or stopped by a signal): remove its folder unless asked to keep
 * it (`keep`: why), the run failed after something was written (its error names the worker log) or it holds something to read
 * (`folderReason`); a kept folder is said on `out` with why. Returns why it was kept.
 */
export function settleJobDir(dir: string, opts: { keep?: KeepReason; failed?: boolean; out: NodeJS.WritableStream }): KeepReason | undefined {
  let why: KeepReason | undefined;
  try {
    const written = readdirSync(dir).some((f) => statSync(join(dir, f)).size > 0);
    why = opts.keep ?? (opts.failed && written ? 'the run failed' : folderReason(dir));
    if (!why) rmSync(dir, { recursive: true, force: true });
  } catch {
    return undefined; // gone already, or unreadable: leave it
  }
  if (why) opts.out.write(`  worker logs: ${join(dir, WORKER_LOG)} (kept: ${why}; rm -r ${dir} when done)\n`);
  return why;
}
