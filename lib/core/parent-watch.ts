/**
 * Ends a run whose starter went away. `npx pipeline up`, `npm start` and `npm run chaos` run node
 * under npm (or npx) and `sh -c`; a signal to npm or npx alone is not passed on to node (npm
 * signals sh, and sh dies without passing it on), so the command, its workers and its
 * redis-server would run on under init. `watchParents` polls the process's ancestors in its own
 * process group (npm, sh, tsx, npx; the shell of a script that started it without job control:
 * not the interactive shell a terminal job belongs to, nor anything above a process group
 * leader) and calls `onGone` once one of them is gone. A process that leads its own group
 * (`setsid`, a container's PID 1, a systemd service, a terminal's job started as `node ...`)
 * watches nothing. Linux reads /proc; elsewhere only the parent pid is watched.
 */
import { readFileSync } from 'node:fs';

/** How often `pipeline up`, `start` and `serve` check that the processes they were started under are there (`--parent-poll-ms`). */
export const PARENT_POLL_MS = 1000;

/** pid, parent pid and process group of a process from /proc/<pid>/stat; undefined when unreadable (gone, or not Linux). */
function stat(pid: number): { ppid: number; pgrp: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // After the command name (in parentheses, may hold spaces): state, ppid, pgrp, ...
    const [, ppid, pgrp] = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(ppid), pgrp: Number(pgrp) };
  } catch {
    return undefined;
  }
}

/** The ancestors of this process in its process group, nearest first (none when it leads its group; just the parent where /proc is missing). */
export function groupAncestors(): number[] {
  const self = stat(process.pid);
  if (!self) return [process.ppid];
  const chain: number[] = [];
  for (let pid = self.ppid; pid > 1;) {
    const s = stat(pid);
    if (!s || s.pgrp !== self.pgrp) break;
    chain.push(pid);
    pid = s.ppid;
  }
  return chain;
}

/** Polls every `everyMs` (0: not at all); `onGone` once an ancestor of the start is no longer one. Returns a stop function. */
export function watchParents(everyMs: number, onGone: (why: string) => void): () => void {
  const start = groupAncestors();
  if (everyMs <= 0 || start.length === 0) return () => {};
  const timer = setInterval(() => {
    const now = groupAncestors();
    const gone = start.findIndex((pid, i) => now[i] !== pid);
    if (gone === -1) return;
    clearInterval(timer);
    onGone(`parent process ${start[gone]} is gone (a signal to npm or npx alone is not passed on: signal the process group)`);
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
