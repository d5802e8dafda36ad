import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cli, exited, exitedWithin } from './pipeline.js';

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

/**
 * `pipeline --config <file> up --no-autoscale` against `url` until it exits (a start check that
 * refuses the config), with LOG_LEVEL info so that a worker it starts shows in `out`. Still running
 * after `ms`, it gets SIGINT (it stops its workers) and `code` is 'running'.
 */
export async function upUntilExit(file: string, url: string, ms: number): Promise<{ code: number | null | 'running'; out: string }> {
  const up = cli(['--config', file, 'up', '--no-autoscale'], url);
  const code = await exitedWithin(up, ms);
  if (code === 'running') {
    up.kill('SIGINT');
    await exited(up);
  }
  return { code, out: up.output() };
}
