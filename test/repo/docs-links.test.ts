/**
 * Every relative link in the docs resolves: the file (or folder) exists and, for `#anchor`, the
 * target page has a heading with that GitHub slug. External links (http, mailto) are not fetched.
 * The sources' pointers into the docs too (`docs/x.md#anchor`, `docs/x.md "Heading"`): comments
 * still named sections renamed long before (docs/cli.md "Exit codes", docs/development.md "tsx or
 * compiled"). Also: the README stays a front page (at most 200 lines).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const REPO = resolve(import.meta.dirname, '../..');
const PAGES = [
  'README.md',
  'CONTRIBUTING.md',
  'CHANGELOG.md',
  'models/README.md',
  ...readdirSync(join(REPO, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
  ...readdirSync(join(REPO, 'examples')).flatMap((d) => (existsSync(join(REPO, 'examples', d, 'README.md')) ? [`examples/${d}/README.md`] : [])),
];

/** GitHub's heading anchor: lower case, punctuation dropped (but `-` and `_`), spaces to `-`. */
export function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** Markdown without fenced code blocks and inline code (links there are examples, not links). */
const prose = (md: string) => md.replace(/^(```|~~~)[\s\S]*?^\1/gm, '').replace(/`[^`\n]*`/g, '');

/** The anchors a page offers: its headings' slugs (numbered -1, -2 when repeated) and explicit ids. */
export function anchorsOf(md: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of md.replace(/^(```|~~~)[\s\S]*?^\1/gm, '').matchAll(/^#{1,6}\s+(.+?)\s*#*$/gm)) {
    const base = slug(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  for (const m of md.matchAll(/<a\s+(?:name|id)="([^"]+)"/g)) out.add(m[1]!);
  return out;
}

/** Relative link targets of a page: `[text](target)` and `[text]: target` references. */
export function linksOf(md: string): string[] {
  const text = prose(md);
  const inline = [...text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!);
  const refs = [...text.matchAll(/^\s*\[[^\]]+\]:\s*(\S+)/gm)].map((m) => m[1]!);
  return [...inline, ...refs].filter((l) => !/^[a-z][a-z0-9+.-]*:/i.test(l));
}

/** What is wrong with one link from `page` (undefined when it resolves). */
export function brokenLink(page: string, link: string, read: (p: string) => string | undefined): string | undefined {
  const [path, anchor] = link.split('#') as [string, string | undefined];
  const target = path ? relative(REPO, resolve(REPO, dirname(page), decodeURI(path))) : page;
  if (!existsSync(join(REPO, target))) return `${page}: ${link}: no file ${target}`;
  if (anchor === undefined || anchor === '') return undefined;
  if (statSync(join(REPO, target)).isDirectory() || !target.endsWith('.md')) return `${page}: ${link}: an anchor into ${target}, which is no Markdown page`;
  const md = read(target);
  if (md === undefined || !anchorsOf(md).has(decodeURI(anchor))) return `${page}: ${link}: ${target} has no heading #${anchor}`;
  return undefined;
}

const cache = new Map<string, string>();
const read = (p: string) => {
  if (!cache.has(p)) cache.set(p, readFileSync(join(REPO, p), 'utf8'));
  return cache.get(p);
};

test('every relative link and #anchor in the docs resolves', () => {
  const broken: string[] = [];
  let links = 0;
  for (const page of PAGES) {
    for (const link of linksOf(read(page)!)) {
      links++;
      const why = brokenLink(page, link, read);
      if (why) broken.push(why);
    }
  }
  assert.ok(links > 30, `only ${links} links found: is the link pattern still right?`);
  assert.equal(broken, []);
});

test('the checker finds broken links: a missing file, a missing anchor, an anchor into a folder; code is not checked', () => {
  const pages: Record<string, string> = { 'docs/x.md': '# Title\n## Where things `live`\n## Where things live\n' };
  const r = (p: string) => pages[p] ?? read(p);
  assert.is(brokenLink('docs/x.md', 'nope.md', r), 'docs/x.md: nope.md: no file docs/nope.md');
  assert.is(brokenLink('README.md', 'docs/architecture.md#where-things-live', r), undefined);
  assert.match(brokenLink('README.md', 'docs/architecture.md#where-things-die', r) ?? '', /has no heading #where-things-die/);
  assert.match(brokenLink('README.md', 'docs#x', r) ?? '', /no Markdown page/);
  assert.equal([...anchorsOf(pages['docs/x.md']!)], ['title', 'where-things-live', 'where-things-live-1']);
  assert.equal(linksOf('[a](b.md) `[c](d.md)` [e](https://x.y)\n```\n[f](g.md)\n```\n[h]: i.md#j'), ['b.md', 'i.md#j']);
  assert.is(slug('Sources in development, compiled JavaScript in production'), 'sources-in-development-compiled-javascript-in-production');
});

/** Folders whose source files point readers at the docs in comments and messages. */
const SOURCE_DIRS = ['lib', 'stages', 'scripts', 'bench', 'training', 'deploy', 'test', 'examples', 'console'];

function sourceFiles(dir: string): string[] {
  return readdirSync(join(REPO, dir)).flatMap((name) => {
    const p = join(dir, name);
    if (name === 'node_modules' || name.startsWith('.')) return [];
    return statSync(join(REPO, p)).isDirectory() ? sourceFiles(p) : /\.(ts|mjs|js|json|ya?ml|html)$/.test(name) ? [p] : [];
  });
}

/** A page's headings as written (`## Exit codes` → `Exit codes`), code fences left out. */
const headingsOf = (md: string) => new Set([...md.replace(/^(```|~~~)[\s\S]*?^\1/gm, '').matchAll(/^#{1,6}\s+(.+?)\s*#*$/gm)].map((m) => m[1]!.trim()));

/** What is wrong with the docs references in one source file's text: `docs/x.md#anchor` and `docs/x.md "Heading"`. */
export function brokenSourceRefs(file: string, text: string, read: (p: string) => string | undefined): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/\b(docs\/[a-z-]+\.md)#([a-z0-9-]+)/g)) {
    const why = brokenLink('README.md', `${m[1]}#${m[2]}`, read);
    if (why) out.push(`${file}: ${why.replace(/^README\.md: /, '')}`);
  }
  for (const m of text.matchAll(/\b(docs\/[a-z-]+\.md)(?:'s)?,? "([^"\n]+)"/g)) {
    const md = existsSync(join(REPO, m[1]!)) ? read(m[1]!) : undefined;
    if (md === undefined) out.push(`${file}: ${m[1]}: no such page`);
    else if (!headingsOf(md).has(m[2]!)) out.push(`${file}: ${m[1]} has no heading "${m[2]}"`);
  }
  return out;
}

test('docs pages and sections named in the sources exist: `docs/x.md#anchor` and `docs/x.md "Heading"`', () => {
  const broken: string[] = [];
  let refs = 0;
  for (const file of SOURCE_DIRS.flatMap(sourceFiles)) {
    if (file === 'test/repo/docs-links.test.ts') continue; // its own examples
    const text = readFileSync(join(REPO, file), 'utf8');
    refs += [...text.matchAll(/\bdocs\/[a-z-]+\.md(?:#|(?:'s)?,? ")/g)].length;
    broken.push(...brokenSourceRefs(file, text, read));
  }
  assert.ok(refs > 5, `only ${refs} references found: is the pattern still right?`);
  assert.equal(broken, []);
});

test('the source checker finds a missing heading, a missing anchor and a missing page', () => {
  const pages: Record<string, string> = { 'docs/x.md': '# Title\n## Exit codes\n' };
  const r = (p: string) => pages[p] ?? read(p);
  assert.equal(brokenSourceRefs('a.ts', 'see docs/cli.md "Exit codes"', r), ['a.ts: docs/cli.md has no heading "Exit codes"']);
  assert.equal(brokenSourceRefs('a.ts', 'docs/development.md\'s "ioredis" and docs/cli.md#background-runs', r), []);
  assert.match(brokenSourceRefs('a.ts', 'docs/cli.md#exit-codes', r)[0] ?? '', /^a\.ts: docs\/cli\.md#exit-codes: docs\/cli\.md has no heading #exit-codes/);
  assert.equal(brokenSourceRefs('a.ts', 'docs/nope.md "X"', r), ['a.ts: docs/nope.md: no such page']);
});

test('README.md is a front page: at most 200 lines', () => {
  const lines = read('README.md')!.split('\n').length;
  assert.ok(lines <= 200, `README.md has ${lines} lines; move reference to docs/`);
});

test.run();
