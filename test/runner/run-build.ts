/**
 * The build test/runner/run.ts starts beside its first files: `scripts/build.mjs` (what `npm run
 * build` runs) compiles dist/ from the sources as they are now. Each file started after it succeeded
 * gets TEST_DIST=1 and starts the compiled CLI (test/helpers/bin.ts: about 0.25 s a start against
 * 0.5 s through tsx, some thousand starts in a run); a file started before, or every file when the
 * build failed, starts the sources. Either way the code tested is the sources of this run, never an
 * older dist/.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

export interface BuildResult {
  ok: boolean;
  ms: number;
  /** The build's output (stdout and stderr), for a failure. */
  output: string;
}

export interface Build {
  /** What a file started now adds to its environment: TEST_DIST=1 once the build has succeeded. */
  env: () => Record<string, string>;
  ended: Promise<BuildResult>;
}

/** Run `node scripts/build.mjs` of the package at `root` (the repository: test/'s parent). */
export function startBuild(root = resolve(import.meta.dirname, '../..')): Build {
  const t0 = Date.now();
  let built = false;
  let output = '';
  const child = spawn(process.execPath, [resolve(root, 'scripts/build.mjs')], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const ended = new Promise<BuildResult>((res) => {
    child.once('error', (err) => res({ ok: false, ms: Date.now() - t0, output: `${output}${err.message}\n` }));
    child.once('close', (code) => {
      built = code === 0;
      res({ ok: built, ms: Date.now() - t0, output });
    });
  });
  return { env: (): Record<string, string> => (built ? { TEST_DIST: '1' } : {}), ended };
}
