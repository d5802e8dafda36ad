/**
 * Facts the README, the docs and the example state about the repository, checked against it: the README
 * said four test files need PostgreSQL when six did, the example sink's output file showed up
 * as untracked (`?? prices.jsonl`) after running the example as its README says, and the README,
 * CONTRIBUTING.md and package.json said Node.js >= 20 while the runtime used `import.meta.dirname`
 * (Node 20.11): on 20.0-20.10 `npm start` died at import with a TypeError (ERR_INVALID_ARG_TYPE).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { API_DEFAULTS } from '../../lib/config/api-limits.js';
import { CONSOLE_DEFAULTS } from '../../lib/config/console-options.js';
import { LIMIT_DEFAULTS, STAGE_DEFAULTS } from '../../lib/config/defaults.js';
import { WEBHOOK_DEFAULTS } from '../../lib/config/webhook-settings.js';
import { buildProgram } from '../../scripts/commands/program.js';

const REPO = resolve(import.meta.dirname, '../..');
const WORDS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven', 'twelve'];

test('the README says how many test files need PostgreSQL, and the number is right', () => {
  // The files that start PostgreSQL import its helper (the README's grep finds the same).
  const helper = /from '\.\.\/helpers\/postgres\.js'/;
  const files = sources(join(REPO, 'test'))
    .filter((f) => f.endsWith('.test.ts') && helper.test(readFileSync(f, 'utf8')))
    .map((f) => relative(join(REPO, 'test'), f));
  const said = /needs PostgreSQL for (\w+) files/.exec(readFileSync(join(REPO, 'README.md'), 'utf8'))?.[1];
  assert.ok(said, 'the README states the count');
  const n = /^\d+$/.test(said!) ? Number(said) : WORDS.indexOf(said!);
  assert.is(n, files.length, `README says ${said}; ${files.length} files import the PostgreSQL helper: ${files.join(', ')}`);
});

test("the example sink's output file, beside the example's config, is ignored by git", () => {
  const config = JSON.parse(readFileSync(join(REPO, 'examples/price-normaliser/pipeline.json'), 'utf8')) as {
    stages: { kind: string; settings?: { file?: string } }[];
  };
  const out = config.stages.find((s) => s.kind === 'store')?.settings?.file;
  assert.type(out, 'string');
  // Exit 0: ignored; 1: not ignored (execFileSync throws).
  const path = `examples/price-normaliser/${out!}`;
  assert.not.throws(() => execFileSync('git', ['check-ignore', '-q', '--no-index', path], { cwd: REPO }), `${path} is not in .gitignore`);
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

/** Env names the runtime reads that are not its own settings: libpq's and the OS's user, a fallback for a role name in a message; npm's INIT_CWD (where `npm run eval` was typed). */
const NOT_SETTINGS = new Set(['USER', 'PGUSER', 'INIT_CWD']);

/** The environment variables lib/, stages/ and scripts/ read: `env.NAME`, `env['NAME']`, and `*_ENV = 'NAME'` constants. */
export function envNames(source: string): string[] {
  const names = [...source.matchAll(/\benv(?:\.([A-Z][A-Z0-9_]+)\b|\[['"]([A-Z][A-Z0-9_]+)['"]\])/g), ...source.matchAll(/_ENV\w* = '([A-Z][A-Z0-9_]+)'/g)];
  return names.map((m) => (m[1] ?? m[2])!).filter((n) => !NOT_SETTINGS.has(n));
}

test('every environment variable the runtime reads is named in docs/configuration.md and in `pipeline --help`', () => {
  const read = [...new Set(['lib', 'stages', 'scripts'].flatMap((d) => sources(join(REPO, d))).flatMap((f) => envNames(readFileSync(f, 'utf8'))))].sort();
  assert.ok(read.includes('REDIS_URL') && read.includes('PIPELINE_API_REDIS_URL'), `the patterns still find them: ${read.join(', ')}`);
  const word = (text: string, name: string) => new RegExp(`\\b${name}\\b`).test(text);
  const page = readFileSync(join(REPO, 'docs/configuration.md'), 'utf8');
  assert.equal(
    read.filter((n) => !word(page, n)),
    [],
    'read by the runtime, not named in docs/configuration.md',
  );
  const help = buildProgram().description();
  assert.equal(
    read.filter((n) => !word(help, n)),
    [],
    "read by the runtime, not in `pipeline --help`'s Environment list (scripts/commands/program.ts)",
  );
  assert.equal(envNames("process.env.EXIT_ON_HUNG; env['PORT']; const X_ENV = 'PIPELINE_API_REDIS_URL'; env.USER"), [
    'EXIT_ON_HUNG',
    'PORT',
    'PIPELINE_API_REDIS_URL',
  ]);
});

/** `| \`key\` / \`key2\` | default / default2 | ...` rows of a markdown page: key → the default as written. */
export function optionRows(markdown: string): Map<string, string> {
  const rows = new Map<string, string>();
  for (const m of markdown.matchAll(/^\| `([\w.]+)`(?: \/ `([\w.]+)`)? \| ([^|]+) \|/gm)) {
    const values = m[3]!.trim().split(' / ');
    [m[1], m[2]].forEach((key, i) => key && rows.set(key, (values[i] ?? values[0]!).trim()));
  }
  return rows;
}

test("docs/configuration.md's option tables give every stage, `limits` and `api` option with the default the code has", () => {
  const rows = optionRows(readFileSync(join(REPO, 'docs/configuration.md'), 'utf8'));
  const code: Record<string, unknown> = {
    ...STAGE_DEFAULTS,
    ...API_DEFAULTS,
    ...Object.fromEntries(Object.entries(LIMIT_DEFAULTS).map(([k, v]) => [`limits.${k}`, v])),
  };
  // Named in the "Top-level" sentence rather than the limits table.
  const prose = new Set(['limits.maxRecordBytes']);
  assert.equal(
    [...rows.keys()].filter((k) => !(k in code)),
    [],
    'options in the tables that the code does not have',
  );
  assert.equal(
    Object.keys(code).filter((k) => !rows.has(k) && !prose.has(k)),
    [],
    'options the code has that no table row gives',
  );
  // A string default is written as JSON in code type (`"auto"`).
  const asWritten = (x: unknown): string => (typeof x === 'string' ? `\`${JSON.stringify(x)}\`` : String(x));
  const wrong = [...rows]
    .filter(([k, v]) => k in code && String(code[k]) !== v && asWritten(code[k]) !== v)
    .map(([k, v]) => `${k}: docs ${v}, code ${String(code[k])}`);
  assert.equal(wrong, [], 'defaults that differ');
  assert.equal(
    [...optionRows('| `a` / `b` | 1 / 2 | x |\n| `c` | 3 | y |')],
    [
      ['a', '1'],
      ['b', '2'],
      ['c', '3'],
    ],
  );
});

test("docs/webhooks.md's and docs/console.md's option tables give every webhook and `console` option with the default the code has", () => {
  const pages: [string, Record<string, unknown>][] = [
    ['docs/webhooks.md', { ...WEBHOOK_DEFAULTS }],
    ['docs/console.md', { ...CONSOLE_DEFAULTS }],
  ];
  const wrong = pages.flatMap(([page, code]) => {
    // The pages' other tables (headers, error causes) have rows too: only the options' rows are read.
    const rows = optionRows(readFileSync(join(REPO, page), 'utf8'));
    return Object.entries(code).flatMap(([k, v]) => {
      const row = rows.get(k);
      if (row === undefined) return [`${page}: no row for ${k}`];
      return row === String(v) ? [] : [`${page}: ${k}: docs ${row}, code ${String(v)}`];
    });
  });
  assert.equal(wrong, [], 'options missing from their table, or defaults that differ');
});

/** Long options of a command and its subcommands. */
const longOptions = (cmd: Command): string[] => [...cmd.options.map((o) => o.long ?? ''), ...cmd.commands.flatMap(longOptions)];

test('every `pipeline <command> --option` in the README and docs/ names an option that command has', () => {
  const program = buildProgram();
  const global = longOptions(program);
  const pages = [
    'README.md',
    'CONTRIBUTING.md',
    'examples/price-normaliser/README.md',
    ...readdirSync(join(REPO, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${f}`),
  ];
  const unknown: string[] = [];
  for (const page of pages)
    readFileSync(join(REPO, page), 'utf8')
      .split('\n')
      .forEach((line, i) => {
        // Code spans, and whole lines of a code block that run a command.
        const spans = [...line.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
        if (/^\s*(npx |node |npm run dev |pipeline )/.test(line)) spans.push(line.split('#')[0]!);
        for (const span of spans) {
          const m = /(?:\bpipeline|cli\.js|npm run dev --)\s+([a-z][a-z-]*)((?:\s+[^\s|]+)*)/.exec(span);
          const cmd = m && program.commands.find((c) => c.name() === m[1]);
          if (!cmd) continue;
          const known = new Set([...longOptions(cmd), ...global]);
          for (const option of m![2]!.match(/--[a-z][a-z0-9-]*/g) ?? []) if (!known.has(option)) unknown.push(`${page}:${i + 1}: ${cmd.name()} ${option}`);
        }
      });
  assert.equal(unknown, [], 'options no command has');
});

/** The npm scripts whose options the docs show (`npm run bench -- --parts api`), and the file whose `--help` lists them. */
const SCRIPT_HELP: Record<string, string> = {
  bench: 'bench/options.ts',
  'bench:cluster': 'bench/cluster.ts',
  'bench:handoff': 'bench/handoff-cost.ts',
  'bench:match': 'bench/match.ts',
  chaos: 'scripts/scenarios/chaos.ts',
  soak: 'scripts/scenarios/soak.ts',
  models: 'training/build.ts',
};

/** The long options a script's `--help` prints: its `USAGE` text, else its commander `.option('--x ...')` calls. */
export function helpOptions(source: string): Set<string> {
  const usage = /USAGE = `([\s\S]*?)`;/.exec(source)?.[1];
  const names = usage
    ? usage.match(/--[a-z][a-z0-9-]*/g)
    : [...source.matchAll(/\.(?:option|requiredOption)\(\s*'(?:-\w, )?(--[a-z][a-z0-9-]*)/g)].map((m) => m[1]!);
  return new Set(['--help', ...(names ?? [])]);
}

test("every `npm run <script> -- --option` in the README and docs/ names an option that script's --help lists (bench ran `--cluster` without naming it)", () => {
  const program = buildProgram();
  const known: Record<string, Set<string>> = {
    ...Object.fromEntries(Object.entries(SCRIPT_HELP).map(([name, file]) => [name, helpOptions(readFileSync(join(REPO, file), 'utf8'))])),
    eval: new Set(['--help', ...longOptions(program.commands.find((c) => c.name() === 'eval')!), ...longOptions(program)]),
  };
  const pages = [
    'README.md',
    'CONTRIBUTING.md',
    'models/README.md',
    ...readdirSync(join(REPO, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${f}`),
  ];
  const unknown = pages.flatMap((page) =>
    [...readFileSync(join(REPO, page), 'utf8').matchAll(/npm run ([a-z:]+) -- ([^`|#\n]*)/g)].flatMap((m) => {
      const options = known[m[1]!];
      return options ? (m[2]!.match(/--[a-z][a-z0-9-]*/g) ?? []).filter((o) => !options.has(o)).map((o) => `${page}: npm run ${m[1]} ${o}`) : [];
    }),
  );
  assert.equal(unknown, [], 'options the script does not list in its --help');
  assert.equal([...helpOptions('const USAGE = `usage: x\n  --runs N  runs`;')], ['--help', '--runs']);
  assert.equal([...helpOptions(".option('--records <n>', 'x')\n  .option('-k, --keep', 'y')")], ['--help', '--records', '--keep']);
});

/** Files the docs name that a command writes, not the repository (`pipeline acl --write-env deploy/.env`). */
const WRITTEN_BY_COMMANDS = new Set(['deploy/.env']);

test('every repository path written in code spans of the README, CONTRIBUTING.md and docs/ exists (placeholders aside)', () => {
  const pages = [
    'README.md',
    'CONTRIBUTING.md',
    ...readdirSync(join(REPO, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${f}`),
  ];
  const missing = pages.flatMap((page) =>
    [...readFileSync(join(REPO, page), 'utf8').matchAll(/`((?:lib|stages|scripts|test|deploy|bench|training|config|examples|models|data)\/[\w./-]+)`/g)]
      .map((m) => m[1]!.replace(/\/$/, ''))
      .filter((p) => !WRITTEN_BY_COMMANDS.has(p) && !existsSync(join(REPO, p)))
      .map((p) => `${page}: ${p}`),
  );
  assert.equal(missing, [], 'paths that are not in the repository');
});

test("docs/architecture.md's map of the code has a row for every folder of lib/ and every top-level folder (docs/ and dot-folders aside)", () => {
  const page = readFileSync(join(REPO, 'docs/architecture.md'), 'utf8');
  const rows = new Set([...page.matchAll(/^\| `([\w./-]+)\/`/gm)].map((m) => m[1]!));
  const tracked = execFileSync('git', ['ls-files'], { cwd: REPO, encoding: 'utf8' }).split('\n');
  const top = new Set(tracked.filter((f) => f.includes('/') && !f.startsWith('.') && !f.startsWith('docs/')).map((f) => f.split('/')[0]!));
  const lib = new Set(tracked.filter((f) => /^lib\/[^/]+\//.test(f)).map((f) => f.split('/').slice(0, 2).join('/')));
  const unmapped = [...top, ...lib].filter((f) => f !== 'lib' && !rows.has(f));
  assert.equal(unmapped.sort(), [], 'folders with no row in "Where things live"');
});

test.run();
