/**
 * Facts the README and the example state about the repository, checked against it: the README
 * said four test files need PostgreSQL when six did, the example sink's output file showed up
 * as untracked (`?? prices.jsonl`) after running the example as its README says, and the README,
 * CONTRIBUTING.md and package.json said Node.js >= 20 while the runtime used `import.meta.dirname`
 * (Node 20.11): on 20.0-20.10 `npm start` died at import with a TypeError (ERR_INVALID_ARG_TYPE).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
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

/** Node APIs the runtime (lib/, stages/, scripts/) uses that Node 20.0 lacks, with the release that added them. */
const NODE_APIS: { pattern: RegExp; api: string; since: [number, number] }[] = [
  { pattern: /import\.meta\.(?:dirname|filename)\b/, api: 'import.meta.dirname', since: [20, 11] },
  { pattern: /import \{[^}]*\bregister\b[^}]*\} from 'node:module'/, api: 'module.register', since: [20, 6] },
];

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (name === 'node_modules' || name.startsWith('.')) return [];
    return statSync(p).isDirectory() ? sources(p) : /\.(ts|mjs|js)$/.test(name) ? [p] : [];
  });
}

/** `>= 20.11` / `>=20.11.0` / `>= 20` as [major, minor]. */
export function nodeMinimum(text: string | undefined): [number, number] | undefined {
  const m = /^>=\s*(\d+)(?:\.(\d+))?(?:\.\d+)?$/.exec(text?.trim() ?? '');
  return m ? [Number(m[1]), Number(m[2] ?? 0)] : undefined;
}
const atLeast = (a: [number, number], b: [number, number]) => a[0] > b[0] || (a[0] === b[0] && a[1] >= b[1]);

test("package.json's Node.js minimum covers the Node APIs the runtime uses, and the README and CONTRIBUTING.md state it", () => {
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { engines: { node: string } };
  const min = nodeMinimum(pkg.engines.node);
  assert.ok(min, `engines.node ${pkg.engines.node}: expected ">=MAJOR.MINOR"`);
  const files = ['lib', 'stages', 'scripts'].flatMap((d) => sources(join(REPO, d)));
  const needs = NODE_APIS.filter((a) => files.some((f) => a.pattern.test(readFileSync(f, 'utf8'))));
  assert.ok(needs.length > 0, 'the patterns still find the APIs the runtime uses');
  const short = needs.filter((a) => !atLeast(min!, a.since)).map((a) => `${a.api} needs Node ${a.since.join('.')}`);
  assert.equal(short, [], `engines.node is ${pkg.engines.node}`);
  for (const page of ['README.md', 'CONTRIBUTING.md']) {
    const said = /Node\.js (>= [\d.]+)/.exec(readFileSync(join(REPO, page), 'utf8'))?.[1];
    assert.equal(nodeMinimum(said), min, `${page} says Node.js ${said}, package.json ${pkg.engines.node}`);
  }
  assert.equal(nodeMinimum('>= 20.11'), [20, 11]);
  assert.equal(nodeMinimum('>=20'), [20, 0]);
});

test.run();
