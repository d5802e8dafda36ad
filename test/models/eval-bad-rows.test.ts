/**
 * `pipeline eval --input` on a file with lines that are not labelled rows (a line cut short, a JSON
 * array or string, another file's "Title", a brand that is an object): one such line had stopped
 * the whole run; each is left out, named by line and why (stderr, the report, `leftOut` in
 * `--json`), counted, and the other rows are scored. A file with no row left is refused. The
 * training file (`--train`) stays strict: loadLabelled without leaveOutBadRows throws
 * (eval-fields.test.ts).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BIN } from '../helpers/bin.js';

const REPO = resolve(import.meta.dirname, '../..');
const DATA = resolve(REPO, '../shared/data/products');
const dir = mkdtempSync(join(tmpdir(), 'eval-bad-rows-'));
const dev = readFileSync(join(DATA, 'dev.jsonl'), 'utf8').split('\n').slice(0, 5);
writeFileSync(join(dir, 'train.jsonl'), readFileSync(join(DATA, 'train.jsonl'), 'utf8').split('\n').slice(0, 2000).join('\n') + '\n');

test.after(() => rmSync(dir, { recursive: true, force: true }));

const evalRun = (args: string[]) =>
  spawnSync(
    process.execPath,
    [BIN, 'eval', '--train', 'train.jsonl', '--slices', 'none', '--gtin-share', '0', '--bad-gtin-share', '0', ...args],
    { cwd: dir, encoding: 'utf8', env: { ...process.env, LOG_LEVEL: 'error' }, timeout: 300_000 },
  );

const BAD = [
  '{"id": "cut", "title": "Sony MDR',
  '["Sony MDR-7506", "audio"]',
  '"Sony MDR-7506"',
  '{"Title": "Sony MDR-7506", "Category": "audio"}',
  '{"title": "Sony MDR-7506", "category": "audio", "brand": {"name": "Sony"}}',
];

test('lines that are not labelled rows are left out, named by line and why, and the other rows scored', () => {
  // Lines 1, 3, 5, 7, 9 bad; 2, 4, 6, 8, 10 good.
  writeFileSync(join(dir, 'mixed.jsonl'), dev.flatMap((good, i) => [BAD[i]!, good]).join('\n') + '\n');
  const json = join(dir, 'mixed.json');
  const r = evalRun(['--input', 'mixed.jsonl', '--json', json]);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, /^\S*mixed\.jsonl:1: left out \(not a labelled row: not JSON \(.+\)\)$/m);
  assert.match(r.stderr, /^\S*mixed\.jsonl:3: left out \(not a labelled row: expected title and category strings .*; the line is an array, not an object\)$/m);
  assert.match(r.stderr, /^\S*mixed\.jsonl:5: left out \(.*the line is a string, not an object\)$/m);
  assert.match(r.stderr, /^\S*mixed\.jsonl:7: left out \(.*the row has "Title" \(string\), "Category" \(string\)\)$/m);
  assert.match(r.stderr, /^\S*mixed\.jsonl:9: left out \(not a labelled row: brand must be a string or a number where given, not object\)$/m);
  assert.match(r.stdout, /^eval: 5 records from mixed\.jsonl \(seed 7\), 5 rows left out \(in no score, named below\)/m);
  assert.match(r.stdout, /^left out \(in no score\): line 1 \(not a labelled row: not JSON .*\), line 3 \(.*\), line 5 \(.*\), line 7 \(.*\), line 9 \(.*\)$/m);
  const s = JSON.parse(readFileSync(json, 'utf8')) as { records: number; skipped: number; leftOut: { line: number }[]; categories: { n: number } };
  assert.equal([s.records, s.skipped, s.categories.n], [5, 5, 5]);
  assert.equal(
    s.leftOut.map((x) => x.line),
    [1, 3, 5, 7, 9],
  );
});

test('a file none of whose lines is a labelled row is refused before any worker starts, naming the first', () => {
  writeFileSync(join(dir, 'bad.jsonl'), BAD.slice(1).join('\n') + '\n');
  const r = evalRun(['--input', 'bad.jsonl']);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /error: \S*bad\.jsonl: no row that can be scored \(4 left out, the first at line 1: expected title and category strings/);
  assert.not.match(r.stdout, /accuracy/);
  assert.not.match(r.stderr, /supervisor\.started/);
});

test.run();
