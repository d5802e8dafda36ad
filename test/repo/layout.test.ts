/**
 * The layout rules of docs/development.md, checked on the source tree (no server needed; also
 * `npm run check:layout`): no import cycle between files (the console's browser scripts too); lib/ folders import only down their
 * layers; nothing in lib/ imports stages/, scripts/ or the tools beside them; scripts/ holds entry
 * points only, and only scenario code imports scripts/scenarios/; test/ holds folders only; no source file over 350 lines.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const REPO = resolve(import.meta.dirname, '../..');
const SOURCE_DIRS = ['lib', 'stages', 'scripts', 'training', 'bench', 'deploy', 'examples', 'test', 'console'];
const MAX_LINES = 350;

/**
 * lib/ folders by layer: a folder imports only folders of a lower layer (or its own).
 * core/observe ← config/redis ← stream ← worker/producer/models ← ops/webhooks ← index.ts, types.ts (the library entries).
 */
export const LIB_LAYERS: Record<string, number> = {
  core: 0,
  observe: 0,
  config: 1,
  redis: 1,
  stream: 2,
  worker: 3,
  producer: 3,
  models: 3,
  webhooks: 4,
  ops: 4,
  api: 5,
  console: 6,
  'index.ts': 7,
  'types.ts': 7,
};
/** Same-layer pairs allowed one way: observe may use core. */
const SAME_LAYER_OK = new Set(['observe->core']);
/** Known breaches, each with why it stays for now (a new one fails the test). */
const KNOWN_BREACHES: Record<string, string> = {
  'lib/config/load.ts -> lib/stream/router.ts': 'config validation compiles the routes with the router itself, so a config error names the rule',
};
/** Files in scripts/ that are not entry points: the dev loader hooks the entry points load. */
const SCRIPT_ENTRIES = /^(pipeline\.mjs|cli\.ts|build\.mjs|register\.mjs|skip-node-modules\.mjs|source-condition\.mjs)$/;

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (name === 'node_modules' || name.startsWith('.')) return [];
    return statSync(p).isDirectory() ? walk(p) : /\.(ts|mjs|js)$/.test(name) ? [p] : [];
  });
}

export const sources = (): string[] => SOURCE_DIRS.flatMap((d) => walk(join(REPO, d))).map((f) => relative(REPO, f));

/**
 * Relative imports of one file (static, re-exports, literal dynamic imports), as repo paths.
 * `runtimeOnly` leaves out `import type` / `export type` (erased at compile time).
 */
export function importsOf(file: string, text: string, runtimeOnly = false): string[] {
  const found = [...text.matchAll(/(?:^|\n)\s*(import|export)(\s+type)?\s[^;]*?\sfrom\s+'([^']+)'|(?:^|\n)\s*import\s+'([^']+)'|\bimport\(\s*'([^']+)'\s*\)/g)];
  const specs = found.filter((m) => !(runtimeOnly && m[2])).map((m) => m[3] ?? m[4] ?? m[5]!);
  // TypeScript imports a source by its compiled name (`./x.js` is x.ts); the console's JavaScript imports its own files.
  const source = (path: string) => (file.endsWith('.js') ? path : path.replace(/\.js$/, '.ts'));
  return specs.filter((s) => s.startsWith('.')).map((s) => source(relative(REPO, resolve(REPO, dirname(file), s))));
}

/** Every cycle's files, found by depth-first search (each cycle reported once, from its first file). */
export function findCycles(graph: Map<string, string[]>): string[][] {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const visit = (f: string) => {
    state.set(f, 'open');
    stack.push(f);
    for (const g of graph.get(f) ?? []) {
      if (!graph.has(g)) continue;
      if (state.get(g) === 'open') cycles.push([...stack.slice(stack.indexOf(g)), g]);
      else if (!state.has(g)) visit(g);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of graph.keys()) if (!state.has(f)) visit(f);
  return cycles;
}

/** lib/ layering and lib → outside violations of one import. */
export function layerViolation(from: string, to: string): string | undefined {
  if (!from.startsWith('lib/')) return undefined;
  if (!to.startsWith('lib/')) return `${from} imports ${to}: nothing in lib/ imports outside lib/`;
  const a = from.split('/')[1]!;
  const b = to.split('/')[1]!;
  if (a === b) return undefined;
  const la = LIB_LAYERS[a];
  const lb = LIB_LAYERS[b];
  if (la === undefined || lb === undefined)
    return `${from} imports ${to}: lib/${la === undefined ? a : b} has no layer in LIB_LAYERS (test/repo/layout.test.ts)`;
  if (lb < la || (lb === la && SAME_LAYER_OK.has(`${a}->${b}`)) || KNOWN_BREACHES[`${from} -> ${to}`]) return undefined;
  return `${from} imports ${to}: lib/${a} (layer ${la}) may import only lower layers, not lib/${b} (layer ${lb})`;
}

const files = sources();
const texts = new Map(files.map((f) => [f, readFileSync(join(REPO, f), 'utf8')]));
const graph = new Map(files.map((f) => [f, importsOf(f, texts.get(f)!)]));
const runtimeGraph = new Map(files.map((f) => [f, importsOf(f, texts.get(f)!, true)]));

test('no import cycle between source files', () => {
  const cycles = findCycles(graph);
  assert.equal(
    cycles.map((c) => c.join(' -> ')),
    [],
    'import cycles',
  );
});

test('lib/ imports point down its layers, and never out of lib/ (type-only imports aside)', () => {
  const bad = [...runtimeGraph].flatMap(([from, tos]) => tos.map((to) => layerViolation(from, to)).filter((v): v is string => !!v));
  assert.equal(bad, []);
});

test(`no source file over ${MAX_LINES} lines`, () => {
  const long = [...texts].map(([f, t]) => [f, t.split('\n').length - (t.endsWith('\n') ? 1 : 0)] as const).filter(([, n]) => n > MAX_LINES);
  assert.equal(
    long.map(([f, n]) => `${f}: ${n} lines`),
    [],
  );
});

test('scripts/ holds entry points only (helpers live in scripts/commands/, scenario runs in scripts/scenarios/)', () => {
  const top = readdirSync(join(REPO, 'scripts')).filter((n) => statSync(join(REPO, 'scripts', n)).isFile());
  assert.equal(
    top.filter((n) => !SCRIPT_ENTRIES.test(n)),
    [],
  );
});

/** Imports of scripts/scenarios/ from outside it and test/: the CLI (compiled to dist/) never carries the scenario runs. */
export const scenarioLeaks = (g: Map<string, string[]>): string[] =>
  [...g].flatMap(([from, tos]) =>
    from.startsWith('scripts/scenarios/') || from.startsWith('test/')
      ? []
      : tos.filter((to) => to.startsWith('scripts/scenarios/')).map((to) => `${from} imports ${to}`),
  );

test('only the scenario runs and their tests import scripts/scenarios/ (a helper a command shares stays in scripts/commands/)', () => {
  assert.equal(scenarioLeaks(graph), []);
  assert.equal(
    scenarioLeaks(new Map([['scripts/commands/up.ts', ['scripts/scenarios/fault-run.ts']]])),
    ['scripts/commands/up.ts imports scripts/scenarios/fault-run.ts'],
    'the check can fail',
  );
});

test('test/ holds folders only: each test file in the folder of what it covers (docs/development.md#tests)', () => {
  const top = readdirSync(join(REPO, 'test')).filter((n) => statSync(join(REPO, 'test', n)).isFile());
  assert.equal(top, []);
});

test('the checks can fail: a cycle, a layer breach, an import out of lib/ are each found', () => {
  assert.equal(
    findCycles(
      new Map([
        ['a', ['b']],
        ['b', ['c']],
        ['c', ['a']],
        ['d', ['a']],
      ]),
    ),
    [['a', 'b', 'c', 'a']],
  );
  assert.match(layerViolation('lib/stream/x.ts', 'lib/worker/y.ts') ?? '', /layer 2.*lib\/worker \(layer 3\)/);
  assert.match(layerViolation('lib/core/x.ts', 'stages/y.ts') ?? '', /nothing in lib\/ imports outside/);
  assert.is(layerViolation('lib/worker/x.ts', 'lib/stream/y.ts'), undefined);
  assert.equal(
    importsOf(
      'lib/a/b.ts',
      "import { x } from '../c/d.js';\nimport type { Y } from './e.js';\nexport { z } from '../../stages/f.js';\nconst m = await import('./g.js');",
    ),
    ['lib/c/d.ts', 'lib/a/e.ts', 'stages/f.ts', 'lib/a/g.ts'],
  );
  assert.equal(importsOf('lib/a/b.ts', "import type { Y } from './e.js';\nimport { x } from './d.js';", true), ['lib/a/d.ts'], 'type-only imports left out');
  assert.equal(importsOf('console/a.js', "import { $ } from './ui.js';"), ['console/ui.js'], "the console's scripts import JavaScript");
});

test.run();
