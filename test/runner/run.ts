/**
 * Runs every *.test.ts file under test/'s topic folders (test/helpers and test/fixtures aside) in
 * its own Node process (each starts its own redis-server), up to `--jobs N` at a time (env
 * TEST_JOBS; default 2, or the number of CPUs if smaller), and closes with one line
 * `N passed, N failed`. Each file is named by its path under test/ (`topologies/cluster-cli.test.ts`);
 * `npm test -- router codec` runs only files whose path contains one of the words (a folder's name
 * runs the folder). Each file's block is printed when it ends, never interleaved. The files of
 * RUN_ALONE (test/runner/run-alone.ts, with the reason for each) run after the others, one at a
 * time with nothing beside them; an entry naming no test file stops the run before it starts. Each file gets its own temp dir as TMPDIR (removed when it
 * ends), so two files never share a path under the temp dir nor reap each other's servers.
 * A file running over `--file-timeout S` (env TEST_FILE_TIMEOUT; default 300 s) is ended with every
 * process it started and counted failed (`timed out after N s` in its block); the others go on.
 * The run starts by compiling dist/ from the sources beside the first files; the files started after
 * it start the compiled CLI (test/runner/run-build.ts), and the run ends with the build's time.
 * The workings are in test/runner/run-files.ts, the options in test/runner/run-args.ts.
 */
import { resolve } from 'node:path';
import { RUN_ALONE } from './run-alone.js';
import { parseArgs } from './run-args.js';
import { startBuild } from './run-build.js';
import { runFiles, runTally, stopRunning, testFiles, unmatched } from './run-files.js';

/** test/: the files are found in its topic folders and named by their path under it. */
const dir = resolve(import.meta.dirname, '..');
const { jobs, filters, fileTimeoutMs, killGraceMs, error } = parseArgs(process.argv.slice(2));
if (error) {
  process.stderr.write(`${error}\n`);
  process.exit(2);
}
const all = testFiles(dir);
// A file moved or renamed would otherwise leave its entry behind silently and run beside the others.
const stale = unmatched(RUN_ALONE, all);
if (stale.length) {
  process.stderr.write(`test/runner/run-alone.ts names no test file under test/: ${stale.join(', ')}\n`);
  process.exit(2);
}
const files = all.filter((f) => filters.length === 0 || filters.some((w) => f.includes(w)));
if (files.length === 0) {
  process.stdout.write('no test files matched\n');
  process.exit(1);
}

// The files run in process groups of their own, which a terminal's Ctrl-C does not reach: end them here.
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    interrupted = true;
    process.stdout.write(`${signal}: ending the files running, starting no other\n`);
    void stopRunning(`interrupted (${signal})`);
  });

const t0 = Date.now();
const build = startBuild();
const { passed, failed, failedFiles } = await runFiles(dir, files, {
  jobs,
  alone: RUN_ALONE,
  fileTimeoutMs,
  killGraceMs,
  env: build.env,
  write: (block) => process.stdout.write(block),
});
// Awaited even when every file ended first: a build cut short would leave dist/ half written.
const built = await build.ended;
process.stdout.write(
  built.ok
    ? `dist/ built in ${(built.ms / 1000).toFixed(0)}s; the files started after ran the compiled CLI\n`
    : `dist/ not built (every file ran the sources):\n${built.output}`,
);
if (failedFiles.length) process.stdout.write(`failed files: ${failedFiles.join(', ')}\n`);
process.stdout.write(runTally(files.length, Date.now() - t0, jobs, { passed, failed, failedFiles }));
process.exit(interrupted ? 130 : failed > 0 ? 1 : 0);
