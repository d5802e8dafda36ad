/**
 * The process-tree walk of test/runner/run-tree.ts (how the runner ends a file's processes): a
 * process that exits while /proc is read is left out, never crashes the walk. Each pid's stat is
 * read once: read twice, a process gone between the reads had thrown "Cannot read properties of
 * undefined (reading 'ppid')" and failed the runner's own test under CI.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { proc, treeOf, type ProcStat } from './run-tree.js';

test('a process gone between two reads of /proc is left out; the rest of the tree is walked', () => {
  const me = proc(process.pid)!;
  const reads = new Map<number, number>();
  // This process as it is; every other pid answers its first read only, as a process exiting then would.
  const readStat = (pid: number): ProcStat | undefined => {
    const n = (reads.get(pid) ?? 0) + 1;
    reads.set(pid, n);
    if (pid === process.pid) return { ppid: process.ppid, pgid: 0, state: 'R', start: me.start };
    return n === 1 ? { ppid: process.pid, pgid: 0, state: 'S', start: '1' } : undefined;
  };
  const tree = treeOf([me], undefined, readStat);
  assert.ok(
    tree.some((p) => p.pid === process.pid),
    'the root is walked',
  );
  assert.ok(tree.length > 1, 'the processes read once are its children here, and walked');
  assert.ok(
    [...reads.entries()].every(([pid, n]) => n === 1 || pid === process.pid),
    'each pid read once',
  );
});

test('the real /proc: this process and a child it started are in its tree', async () => {
  const { spawn } = await import('node:child_process');
  const child = spawn('sleep', ['5'], { stdio: 'ignore' });
  try {
    await new Promise((r) => child.once('spawn', r));
    const pids = treeOf([proc(process.pid)!]).map((p) => p.pid);
    assert.ok(pids.includes(process.pid));
    assert.ok(pids.includes(child.pid!), `child ${child.pid} in ${pids.join(',')}`);
  } finally {
    child.kill('SIGKILL');
  }
});

test.run();
