import { spawn } from 'node:child_process';

/**
 * Run a TypeScript file in a child Node (through tsx, the sources as they are): what it prints on
 * stdout, and how long after its last line it exited (ms). For tests that a process ends soon after
 * its work, when no timer or socket of ours is left to hold it open.
 */
export function runScript(file: string): Promise<{ out: string; exitLagMs: number }> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', file], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    let last = Date.now();
    child.stdout.on('data', (d: Buffer) => ((out += d.toString()), (last = Date.now())));
    child.once('error', rej);
    child.once('exit', () => res({ out, exitLagMs: Date.now() - last }));
  });
}
