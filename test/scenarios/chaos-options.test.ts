/**
 * `npm run chaos` options: --bad-every refuses 1 (every line bad: the run never ends) and takes 0
 * (no bad lines); --keep on success prints the kept temp dir.
 */
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { reportLines } from '../helpers/report-lines.js';

const ROOT = resolve(import.meta.dirname, '../..');

/** The chaos script as a child, stopped after `limitMs`. */
function chaos(args: string[], limitMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, ['--import', 'tsx', resolve(ROOT, 'scripts/scenarios/chaos.ts'), ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    // Past the limit: SIGINT, then SIGKILL (a run stuck in its input loop does not get to its handler).
    const timers = [setTimeout(() => child.kill('SIGINT'), limitMs), setTimeout(() => child.kill('SIGKILL'), limitMs + 10_000)];
    child.on('exit', (code) => (timers.forEach(clearTimeout), res({ code, out })));
  });
}

test('chaos --bad-every 1 is refused at once (it would make every line bad and never end)', async () => {
  const { code, out } = await chaos(['--records', '100', '--bad-every', '1', '--max-kills', '0', '--redis-restarts', '0'], 30_000);
  assert.is(code, 1, out);
  assert.match(out, /--bad-every <n>' argument '1' is invalid/);
});

test('chaos --bad-every 0: no bad lines, every record sent; --keep prints the kept temp dir', async () => {
  const { code, out } = await chaos(
    ['--records', '300', '--bad-every', '0', '--garbage', '2', '--workers', '1', '--max-kills', '0', '--redis-restarts', '0', '--keep'],
    120_000,
  );
  const { figure, line } = reportLines(out);
  assert.is(code, 0, out);
  assert.is(figure('sent'), 300, out);
  assert.is(figure('stored'), 300);
  assert.is(figure('rejected'), 0);
  const kept = line('kept');
  assert.ok(kept && existsSync(resolve(kept, 'workers.log')), out);
  rmSync(kept!, { recursive: true, force: true });
});

test.run();
