/**
 * Facts the README and the example state about the repository, checked against it: the README
 * said four test files need PostgreSQL when six did, and the example sink's output file showed up
 * as untracked (`?? prices.jsonl`) after running the example as its README says.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const REPO = resolve(import.meta.dirname, '..');
const WORDS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven', 'twelve'];

test('the README says how many test files need PostgreSQL, and the number is right', () => {
  // The files that start PostgreSQL import its helper (the README's grep finds the same).
  const helper = /from '\.\/helpers\/postgres\.js'/;
  const files = readdirSync(join(REPO, 'test')).filter((f) => f.endsWith('.test.ts') && helper.test(readFileSync(join(REPO, 'test', f), 'utf8')));
  const said = /needs PostgreSQL for (\w+) files/.exec(readFileSync(join(REPO, 'README.md'), 'utf8'))?.[1];
  assert.ok(said, 'the README states the count');
  const n = /^\d+$/.test(said!) ? Number(said) : WORDS.indexOf(said!);
  assert.is(n, files.length, `README says ${said}; ${files.length} files import the PostgreSQL helper: ${files.join(', ')}`);
});

test("the example sink's output file, run from the repository root as its README says, is ignored by git", () => {
  const config = JSON.parse(readFileSync(join(REPO, 'examples/price-normaliser/pipeline.json'), 'utf8')) as {
    stages: { kind: string; settings?: { file?: string } }[];
  };
  const out = config.stages.find((s) => s.kind === 'store')?.settings?.file;
  assert.type(out, 'string');
  // Exit 0: ignored; 1: not ignored (execFileSync throws).
  assert.not.throws(() => execFileSync('git', ['check-ignore', '-q', '--no-index', out!], { cwd: REPO }), `${out} is not in .gitignore`);
});

test.run();
