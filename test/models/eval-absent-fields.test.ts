/**
 * `pipeline eval --input` on another retailer's file: rows with only `title` and `category` (no
 * id, brand, mpn or source_category, an extra field). A figure over rows the file cannot give is
 * said "not measured" (subcategory, brand, mpn), and one over no rows is a dash (the valid-GTIN
 * share with --gtin-share 0, a review threshold no row is above or below): they had printed as
 * 0.000, a score of 0 that was never measured. `--json` stays valid JSON without NaN or nulls in
 * place of numbers.
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
const dir = mkdtempSync(join(tmpdir(), 'eval-absent-'));
const dev = readFileSync(join(DATA, 'dev.jsonl'), 'utf8')
  .split('\n')
  .slice(0, 6)
  .map((l) => JSON.parse(l) as { title: string; category: string });
writeFileSync(join(dir, 'train.jsonl'), readFileSync(join(DATA, 'train.jsonl'), 'utf8').split('\n').slice(0, 2000).join('\n') + '\n');
writeFileSync(join(dir, 'bare.jsonl'), dev.map((r) => JSON.stringify({ title: r.title, category: r.category, price: 9.5 })).join('\r\n'));

test.after(() => rmSync(dir, { recursive: true, force: true }));

test('rows with only title and category: subcategory, brand and mpn not measured; figures over no rows a dash; --json valid', () => {
  const json = join(dir, 'bare.json');
  const r = spawnSync(
    process.execPath,
    [
      BIN,
      'eval',
      '--input',
      'bare.jsonl',
      '--train',
      'train.jsonl',
      '--slices',
      'lower-case,no-brand,no-mpn',
      '--gtin-share',
      '0',
      '--bad-gtin-share',
      '0',
      // No confidence is below 0, none at 1: both columns of the review table have a row over no rows.
      '--thresholds',
      '0,1.0',
      '--json',
      json,
    ],
    { cwd: dir, encoding: 'utf8', env: { ...process.env, LOG_LEVEL: 'error' }, timeout: 300_000 },
  );
  assert.is(r.status, 0, r.stderr);
  const out = r.stdout.split('\n');
  assert.match(r.stdout, /^eval: 6 records from bare\.jsonl/m);
  assert.ok(out.includes('subcategory: not measured (no scored row has a source_category)'), r.stdout);
  assert.ok(out.includes('brand: not measured (no input row has a brand)'), r.stdout);
  assert.ok(out.includes('mpn: not measured (no input row has an mpn)'), r.stdout);
  assert.not.match(r.stdout, /^ {2}lower-case +brand/m, 'no identifier line by slice when neither field is there');
  assert.ok(out.includes('  no-brand           0  - (no rows: no input row has a brand)'), r.stdout);
  assert.ok(out.includes('  no-mpn             0  - (no rows: no input row has an mpn)'), r.stdout);
  assert.not.match(r.stdout, /^mpn given on titles/m);
  assert.ok(out.includes('gtin (augmented valid, n=0): found and validated - (no title given one)'), r.stdout);
  assert.match(r.stdout, /^ {2}0\.00 {2}0\.000 {2}\d\.\d{3} \(6\) {2}- \(0\)$/m);
  assert.match(r.stdout, /^ {2}1\.00 {2}1\.000 {2}- \(0\) {2}\d\.\d{3} \(6\)$/m);
  assert.not.match(r.stdout, /NaN|Infinity|undefined/);
  const s = JSON.parse(readFileSync(json, 'utf8')) as Record<string, unknown>;
  assert.equal([s.fine, s.fineNotMeasured, s.labelledIdentifiers], [null, 'no-source-category', { brand: 0, mpn: 0 }]);
});

test.run();
