/**
 * How the runner finds the test files (test/runner/run-files.ts `testFiles`, `unmatched`): every
 * `*.test.ts` in test/'s folders at any depth, test/helpers and test/fixtures aside, named by its
 * path under test/; and a run-alone entry that names no file is found, so that a moved file cannot
 * silently leave the run-alone list and run beside the others. A file the discovery missed would
 * simply never run, and nothing else would say so.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RUN_ALONE } from './run-alone.js';
import { testFiles, unmatched } from './run-files.js';

test('testFiles: *.test.ts at any depth, by path under the root; helpers/ and fixtures/ at the top and dot folders left out', () => {
  const root = mkdtempSync(join(tmpdir(), 'run-discovery-'));
  try {
    for (const f of [
      'top.test.ts',
      'api/a.test.ts',
      'api/deeper/b.test.ts',
      'api/helpers/nested.test.ts', // only the top-level helpers/ is shared code
      'api/notes.ts',
      'api/a.test.ts.orig',
      'helpers/h.test.ts',
      'fixtures/f.test.ts',
      '.cache/c.test.ts',
    ]) {
      mkdirSync(dirname(join(root, f)), { recursive: true });
      writeFileSync(join(root, f), '');
    }
    assert.equal(testFiles(root), ['api/a.test.ts', 'api/deeper/b.test.ts', 'api/helpers/nested.test.ts', 'top.test.ts']);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('unmatched: the run-alone entries that name no file, sorted', () => {
  const files = ['api/a.test.ts', 'store/b.test.ts'];
  assert.equal(unmatched({ 'store/b.test.ts': 'why', 'b.test.ts': 'why', 'api/gone.test.ts': 'why' }, files), ['api/gone.test.ts', 'b.test.ts']);
  assert.equal(unmatched({ 'api/a.test.ts': 'why' }, files), []);
});

test('on test/ itself: every test file found (as many as a plain walk counts), each in a folder, and every run-alone entry names one', () => {
  const dir = resolve(import.meta.dirname, '..');
  const walk = (d: string): number =>
    readdirSync(d, { withFileTypes: true }).reduce(
      (n, e) =>
        n + (e.isDirectory() ? (['helpers', 'fixtures'].includes(e.name) && d === dir ? 0 : walk(join(d, e.name))) : e.name.endsWith('.test.ts') ? 1 : 0),
      0,
    );
  const found = testFiles(dir);
  assert.is(found.length, walk(dir));
  assert.ok(found.includes('runner/run-discovery.test.ts'), 'this file among them');
  assert.equal(
    found.filter((f) => !f.includes('/')),
    [],
  );
  assert.equal(unmatched(RUN_ALONE, found), []);
});

test.run();
