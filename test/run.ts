/**
 * Runs every test/*.test.ts file in its own Node process (each starts its own redis-server), in
 * order, and closes with one line `N passed, N failed`. `npm test -- router codec` runs only files
 * whose name contains one of the words.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

const dir = resolve(import.meta.dirname);
const filters = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.test.ts'))
  .filter((f) => filters.length === 0 || filters.some((w) => f.includes(w)))
  .sort();

let passed = 0;
let failed = 0;
const failedFiles: string[] = [];
for (const f of files) {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', join(dir, f)], {
    encoding: 'utf8',
    env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'error' },
  });
  const out = (r.stdout ?? '') + (r.stderr ?? '');
  // uvu's summary: "Total:  N", "Passed: N"
  const total = Number(/Total:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const ok = Number(/Passed:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const bad = r.status === 0 ? total - ok : Math.max(1, total - ok);
  passed += ok;
  failed += bad;
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  process.stdout.write(`${bad === 0 && r.status === 0 ? 'ok  ' : 'FAIL'} ${f} (${ok}/${total}, ${secs}s)\n`);
  if (bad > 0 || r.status !== 0) {
    failedFiles.push(f);
    process.stdout.write(
      out
        .split('\n')
        .map((l) => `    ${l}`)
        .join('\n') + '\n',
    );
  }
}
if (files.length === 0) {
  process.stdout.write('no test files matched\n');
  process.exit(1);
}
if (failedFiles.length) process.stdout.write(`failed files: ${failedFiles.join(', ')}\n`);
process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exit(failed > 0 ? 1 : 0);
