/**
 * `pipeline eval --input` with categories that are not the classifier's: rows of another
 * taxonomy ("toys", "Printers & Ink") had been scored as plain errors with no word said (a lower
 * accuracy and per-category lines for labels no model has); they are named (stderr, report, --json)
 * and scored apart. "AUDIO" or "audio " had counted as categories of their own; they are taken as
 * the classifier's "audio" and said so, as are "Cameras Photo" and "cameras-photo" (they had been
 * scored apart, out of the accuracy's denominator). A file none of whose categories the classifier has is
 * refused before any worker starts. A source_category "Headphones" is the model's audio/headphones
 * (it had been scored as audio/*, a right prediction counted wrong). The input here starts with a byte order mark (jsonl-bom.test.ts).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkCategories, classifierCategories } from '../../training/eval/categories.js';
import { modelLabels, scoreFine } from '../../training/eval/fine.js';
import { BIN } from '../helpers/bin.js';

const REPO = resolve(import.meta.dirname, '../..');
const DATA = resolve(REPO, '../shared/data/products');
const dir = mkdtempSync(join(tmpdir(), 'eval-categories-'));
const dev = readFileSync(join(DATA, 'dev.jsonl'), 'utf8')
  .split('\n')
  .slice(0, 16)
  .map((l) => JSON.parse(l) as { id: string; title: string; category: string });
writeFileSync(join(dir, 'train.jsonl'), readFileSync(join(DATA, 'train.jsonl'), 'utf8').split('\n').slice(0, 2000).join('\n') + '\n');
const write = (name: string, rows: object[]) => writeFileSync(join(dir, name), '\ufeff' + rows.map((r) => JSON.stringify(r)).join('\n') + '\n');

test.after(() => rmSync(dir, { recursive: true, force: true }));

function evalRun(args: string[]) {
  return spawnSync(
    process.execPath,
    [BIN, 'eval', '--train', 'train.jsonl', '--gtin-share', '0', '--bad-gtin-share', '0', ...args],
    {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, LOG_LEVEL: 'error' },
      timeout: 300_000,
    },
  );
}

test("the classifier's categories: the coarse part of its labels; case, surrounding spaces and spaces / hyphens for underscores folded, other spellings named", () => {
  const known = classifierCategories(modelLabels(join(REPO, 'models'), 'product-category'));
  assert.is(known.length, 15);
  assert.ok(known.includes('printers_ink') && known.includes('audio'));
  const rows = [
    { category: 'AUDIO' },
    { category: ' audio ' },
    { category: 'audio' },
    { category: 'Printers & Ink' },
    { category: 'toys ' },
    { category: 'toys' },
    // Another retailer's spellings of cameras_photo / printers_ink: they had been scored apart, out of the accuracy.
    { category: 'Cameras Photo' },
    { category: 'cameras_photo ' },
    { category: 'Cameras-Photo' },
    { category: 'printers  _ink' },
  ];
  const check = checkCategories(rows, new Set(known));
  assert.equal(
    rows.map((r) => r.category),
    ['audio', 'audio', 'audio', 'Printers & Ink', 'toys', 'toys', 'cameras_photo', 'cameras_photo', 'cameras_photo', 'printers_ink'],
  );
  assert.equal(check.normalised, [
    { from: ' audio ', to: 'audio', rows: 1 },
    { from: 'AUDIO', to: 'audio', rows: 1 },
    { from: 'Cameras Photo', to: 'cameras_photo', rows: 1 },
    { from: 'cameras_photo ', to: 'cameras_photo', rows: 1 },
    { from: 'Cameras-Photo', to: 'cameras_photo', rows: 1 },
    { from: 'printers  _ink', to: 'printers_ink', rows: 1 },
  ]);
  assert.equal(check.unknown, [
    { category: 'toys', rows: 2, lines: [] },
    { category: 'Printers & Ink', rows: 1, lines: [] },
  ]);
  // Rows read from a file carry their line: a note names them.
  const lined = [{ category: 'toys', line: 4 }, { category: 'audio', line: 5 }, { category: 'toys', line: 9 }];
  assert.equal(checkCategories(lined, new Set(known)).unknown, [{ category: 'toys', rows: 2, lines: [4, 9] }]);
});

test("a source_category spelt with other case or spaces is scored as the model's subcategory, not as <category>/*", () => {
  const labels = ['audio/*', 'audio/headphones', 'storage/*'];
  const rows = ['Headphones', ' headphones ', 'headphones', 'Over-Ear Headphones'].map((sourceCategory) => ({
    category: 'audio',
    sourceCategory,
    top: ['audio/headphones', 'audio/*'],
  }));
  // Three rows are audio/headphones, predicted right; the fourth is not a learnt subcategory (audio/*: second).
  assert.equal(scoreFine(labels, rows), { n: 4, top1: 0.75, top3: 1, learnt: 3 });
});

test('rows of categories the classifier does not have are named and scored apart; "AUDIO " is taken as audio, and said', () => {
  const rows = dev.map((r, i) => {
    if (i < 2) return { ...r, category: 'toys' };
    if (i === 2) return { ...r, category: 'Printers & Ink' };
    if (i === 3) return { ...r, category: `${r.category.toUpperCase()} ` };
    return r;
  });
  write('cats.jsonl', rows);
  const json = join(dir, 'cats.json');
  const dump = join(dir, 'cats.dump.jsonl');
  const r = evalRun(['--input', 'cats.jsonl', '--slices', 'lower-case', '--json', json, '--dump', dump, '--timeout', '120000']);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, /^warning: cats\.jsonl: 3 rows have a category the classifier does not have \("toys" 2, "Printers & Ink" 1\): scored apart/m);
  assert.match(r.stderr, /^ {2}"toys": lines 1, 2$/m);
  assert.match(r.stderr, /^ {2}"Printers & Ink": line 3$/m);
  const upper = JSON.stringify(`${dev[3]!.category.toUpperCase()} `);
  assert.ok(
    r.stderr.includes(`note: cats.jsonl: categories taken as the classifier's (case, surrounding spaces, and spaces or hyphens for underscores folded): ${upper} → ${dev[3]!.category} 1`),
    r.stderr,
  );
  assert.match(
    r.stdout,
    /^category: accuracy \d\.\d{3}, macro-F1 \d\.\d{3} \(n=13; 3 rows with a category the classifier does not have are scored apart, below\)$/m,
  );
  assert.match(r.stdout, /^categories the classifier does not have \(3 rows, scored apart/m);
  assert.match(r.stdout, /^ {2}"toys" 2 \(lines 1, 2\) → \S+ \d/m);
  assert.match(r.stdout, /^ {2}"Printers & Ink" 1 \(line 3\) → \S+ 1$/m);
  assert.not.match(r.stdout, /^ {2}(toys|Printers & Ink|[A-Z_]+ ) +\d\.\d{3} \//m, 'no per-category line for them');

  const s = JSON.parse(readFileSync(json, 'utf8')) as {
    records: number;
    categories: { n: number; accuracy: number; perLabel: Record<string, unknown> };
    baseline: { accuracy: number };
    unknownCategories: { rows: number; categories: { category: string; rows: number; lines: number[]; predicted: Record<string, number> }[] };
    normalisedCategories: { from: string; to: string; rows: number }[];
    slices: { name: string; n: number }[];
    calibration: { table: { above: number; below: number }[] };
  };
  assert.equal([s.records, s.categories.n, s.unknownCategories.rows], [16, 13, 3]);
  assert.equal(
    s.unknownCategories.categories.map((c) => [c.category, c.rows, c.lines, Object.values(c.predicted).reduce((a, b) => a + b, 0)]),
    [
      ['toys', 2, [1, 2], 2],
      ['Printers & Ink', 1, [3], 1],
    ],
  );
  assert.equal(s.normalisedCategories, [{ from: `${dev[3]!.category.toUpperCase()} `, to: dev[3]!.category, rows: 1 }]);
  assert.equal(
    Object.keys(s.categories.perLabel).filter((l) => l !== l.trim().toLowerCase() || l === 'toys'),
    [],
  );
  assert.equal(
    s.slices.map((x) => [x.name, x.n]),
    [['lower-case', 13]],
  );
  for (const t of s.calibration.table) assert.is(t.above + t.below, 13);
  const dumped = readFileSync(dump, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { scoredApart?: boolean; category: string; baseline: string; predicted: { category?: string } });
  assert.equal(
    dumped.filter((d) => d.scoredApart).map((d) => d.category),
    ['toys', 'toys', 'Printers & Ink'],
  );
  // The baseline is scored on exactly the pipeline's rows: the same 13, none scored apart.
  const scored = dumped.filter((d) => !d.scoredApart);
  const share = (hit: (d: (typeof scored)[number]) => boolean) => scored.filter(hit).length / scored.length;
  assert.is(s.categories.accuracy, share((d) => d.predicted.category === d.category));
  assert.is(s.baseline.accuracy, share((d) => d.baseline === d.category));
});

test('a file none of whose categories the classifier has is refused before any worker starts', () => {
  write(
    'toys.jsonl',
    dev.slice(0, 3).map((r) => ({ ...r, category: 'toys' })),
  );
  const r = evalRun(['--input', 'toys.jsonl', '--slices', 'none']);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /error: \S*toys\.jsonl: no row has a category the classifier has \(audio, .*tv_video\)/);
  assert.not.match(r.stdout, /accuracy/);
  assert.not.match(r.stderr, /supervisor\.started/);
});

test.run();
