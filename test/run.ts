/**
 * Runs every test/*.test.ts file in its own Node process (each starts its own redis-server), up
 * to `--jobs N` at a time (env TEST_JOBS; default 2, or the number of CPUs if smaller), and
 * closes with one line `N passed, N failed`. `npm test -- router codec` runs only files whose name
 * contains one of the words. Each file's block is printed when it ends, never interleaved. The
 * files of RUN_ALONE (test/run-alone.ts, with the reason for each) run after the others, one at a
 * time with nothing beside them. Each file gets its own temp dir as TMPDIR (removed when it
 * ends), so two files never share a path under the temp dir nor reap each other's servers.
 * The workings are in test/run-files.ts.
 */
import { readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { RUN_ALONE } from './run-alone.js';
import { parseArgs, runFiles } from './run-files.js';

const dir = resolve(import.meta.dirname);
const { jobs, filters, error } = parseArgs(process.argv.slice(2));
if (error) {
  process.stderr.write(`${error}\n`);
  process.exit(2);
}
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.test.ts'))
  .filter((f) => filters.length === 0 || filters.some((w) => f.includes(w)))
  .sort();
if (files.length === 0) {
  process.stdout.write('no test files matched\n');
  process.exit(1);
}

const t0 = Date.now();
const { passed, failed, failedFiles } = await runFiles(dir, files, { jobs, alone: RUN_ALONE, write: (block) => process.stdout.write(block) });
if (failedFiles.length) process.stdout.write(`failed files: ${failedFiles.join(', ')}\n`);
process.stdout.write(`${files.length} files in ${((Date.now() - t0) / 1000).toFixed(0)}s, ${jobs} at a time\n`);
process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exit(failed > 0 ? 1 : 0);
