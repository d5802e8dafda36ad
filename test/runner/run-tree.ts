/**
 * Ending a test file's whole process tree (test/runner/run-files.ts, when a file runs over its time or the
 * run is interrupted): the file runs in its own process group, but what it starts may not stay in
 * it (the redis-server watchers, `pipeline start`'s redis-server and workers with process groups of
 * their own), so the tree is also read from /proc (parent pids) and each process signalled.
 * Off Linux (no /proc) only the group is signalled.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** How often the processes are checked for having exited during the grace period. @defaultValue 100 */
const POLL_MS = 100;

/** A process and its start time (clock ticks since boot), so a pid reused meanwhile is never signalled. */
interface Proc {
  pid: number;
  start: string;
}

/** What /proc/<pid>/stat says of a process. */
export interface ProcStat {
  ppid: number;
  pgid: number;
  state: string;
  start: string;
}

/** Parent pid, process group, state and start time of `pid` from /proc/<pid>/stat; undefined when it is gone. */
function stat(pid: number): ProcStat | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { state: f[0]!, ppid: Number(f[1]), pgid: Number(f[2]), start: f[19]! };
  } catch {
    return undefined;
  }
}

/**
 * Every process under the processes `from` (with them), and every member of the process group `group`
 * (members whose parent died first are under init now). Only processes still running under the
 * start time recorded are walked from: a pid reused meanwhile is not followed. (A group's id is never
 * reused while the group has a member.)
 */
export function treeOf(from: readonly Proc[], group?: number, readStat: (pid: number) => ProcStat | undefined = stat): Proc[] {
  let pids: number[];
  try {
    pids = readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .map(Number);
  } catch {
    return [];
  }
  // Read once per pid: a process may exit between two reads (it had crashed the walk with an undefined stat).
  const stats = new Map(
    pids.flatMap((pid) => {
      const s = readStat(pid);
      return s ? [[pid, s] as const] : [];
    }),
  );
  const children = new Map<number, number[]>();
  for (const [pid, s] of stats) children.set(s.ppid, [...(children.get(s.ppid) ?? []), pid]);
  const found = new Set<number>();
  const visit = (pid: number) => {
    if (found.has(pid) || !stats.has(pid)) return;
    found.add(pid);
    for (const c of children.get(pid) ?? []) visit(c);
  };
  for (const p of from) if (stats.get(p.pid)?.start === p.start) visit(p.pid);
  if (group !== undefined) for (const [pid, s] of stats) if (s.pgid === group) visit(pid);
  return [...found].map((pid) => ({ pid, start: stats.get(pid)!.start }));
}

/** `pid` with its start time, or undefined when it is gone. */
export function proc(pid: number): Proc | undefined {
  const s = stat(pid);
  return s && { pid, start: s.start };
}

/** Whether `p` still runs (not gone, not a zombie, not another process under its pid). */
function running(p: Proc): boolean {
  const s = stat(p.pid);
  return s !== undefined && s.start === p.start && s.state !== 'Z' && s.state !== 'X';
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone already
  }
}

/**
 * SIGTERM the process group `group` (a test file's, led by its process `root`) and every process of its tree, then SIGKILL whatever of
 * them (and of what they started meanwhile) still runs after `graceMs`. Resolves once that is sent,
 * or sooner when all have exited. `root` is a child of this process not yet reaped (its pid cannot
 * have been reused), or undefined when it has exited: then its group is what is left to end.
 */
export async function killTree(group: number, root: Proc | undefined, graceMs: number): Promise<void> {
  const seen = new Map<number, Proc>();
  const look = () => {
    // Walked again each time: what the processes seen so far started since.
    for (const p of treeOf(root ? [root, ...seen.values()] : [...seen.values()], group)) seen.set(p.pid, p);
  };
  look();
  signal(-group, 'SIGTERM');
  for (const p of seen.values()) signal(p.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, Math.min(POLL_MS, Math.max(0, deadline - Date.now()))));
    look();
    if (![...seen.values()].some(running)) return;
  }
  signal(-group, 'SIGKILL');
  for (const p of seen.values()) if (running(p)) signal(p.pid, 'SIGKILL');
}
