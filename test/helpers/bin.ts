/**
 * Which `pipeline` entry a test starts as a child process: the compiled one when the runner built
 * dist/ for this run, else the sources (docs/development.md).
 */
import { resolve } from 'node:path';

/** `pipeline` from the TypeScript sources through tsx: what a test file run alone starts, and what a config naming a `.ts` module needs (plain Node loads no TypeScript). */
export const SOURCE_BIN = resolve(import.meta.dirname, '../../scripts/pipeline.mjs');

/**
 * The `pipeline` entry tests start. The runner (test/runner/run.ts) builds dist/ from the sources at
 * its start and sets TEST_DIST=1 for the files it starts after that build: they run the compiled
 * dist/scripts/cli.js, which starts in half the time of the tsx entry (and starts its workers from
 * dist/ too, scripts/commands/common.ts). A file run alone (`npx tsx test/x.test.ts`) runs the sources.
 */
export const BIN = process.env.TEST_DIST === '1' ? resolve(import.meta.dirname, '../../dist/scripts/cli.js') : SOURCE_BIN;
