import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { exited } from './pipeline.js';

/** Whether `pid` is a running process (a zombie, exited but not yet reaped, is not). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** The JSON log lines of `output` with this event. */
export function events(output: string, event: string): Record<string, unknown>[] {
  return output
    .split('\n')
    .filter((l) => l.includes(`"event":"${event}"`))
    .map((l) => JSON.parse(l.slice(l.indexOf('{'))) as Record<string, unknown>);
}

/** The pids a supervisor logged as started (`supervisor.started`). */
export function startedPids(output: string): number[] {
  return events(output, 'supervisor.started').map((e) => Number(e.pid));
}

/** SIGKILL whatever of `pids` still runs (a test's cleanup when the code under test left them). */
export function killAll(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

/** A test's cleanup of a `pipeline up` child: SIGTERM, wait for its exit, then SIGKILL any worker it started that still runs. */
export async function stopSupervisor(up: ChildProcess & { output(): string }): Promise<void> {
  const pids = startedPids(up.output());
  up.kill('SIGTERM');
  await exited(up);
  killAll(pids);
}
