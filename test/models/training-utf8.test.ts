/**
 * The training data set (train.jsonl, dev.jsonl) and a reviewers' labels file (`npm run models --
 * --labels`) are read strictly as UTF-8, as `pipeline eval` reads its files (lib/core/json-line.ts).
 * A Windows-1252 file had been read without a word, "Café" trained on as "Caf\ufffd": the data set
 * is now refused naming file:line, and a labels file's line is a LabelsError naming file:line
 * (counted and skipped, as a line that is not JSON). BUILD.json's SHA-256 is of the file's bytes.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadDataset, type ProductRow } from '../../training/data.js';
import { mergeLabels, type LabelsFileRecord } from '../../training/review-labels.js';

const REPO = resolve(import.meta.dirname, '../..');
const DATA = resolve(REPO, '../shared/data/products');
/** How long one `npm run models` (one model, 300 rows, one epoch) may take before the test fails (ms). */
const BUILD_DEADLINE_MS = 300_000;
const dir = mkdtempSync(join(tmpdir(), 'training-utf8-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const NOT_UTF8 = /not UTF-8 \(a Latin-1 or Windows-1252 file\? convert it first, e\.g\. iconv -f windows-1252 -t utf-8 FILE > FILE\.utf8\)/;
const row = (id: string, title: string) => JSON.stringify({ id, title, category: 'audio', brand: 'Koss', source_category: 'headphones', source: 'shop' });
const label = (id: string, title: string) => JSON.stringify({ id, title, category: 'audio', decision: 'correct', reviewedAt: '2026-01-02T03:04:05Z' });
/** Lines as a file: the first in UTF-8, the rest in Windows-1252 (Latin-1 for these characters), CRLF ends. */
const cp1252 = (first: string, ...rest: string[]) =>
  Buffer.concat([Buffer.from(first + '\r\n', 'utf8'), ...rest.map((l) => Buffer.from(l + '\r\n', 'latin1'))]);

function dataDir(name: string, train: Buffer | string, dev: Buffer | string = row('d1', 'Koss Porta Pro Headphones') + '\n'): string {
  const d = join(dir, name);
  mkdirSync(d);
  writeFileSync(join(d, 'train.jsonl'), train);
  writeFileSync(join(d, 'dev.jsonl'), dev);
  return d;
}

function failure(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  }
  return 'no error';
}

test('the data set: a line that is not UTF-8 is a DataError naming file:line; UTF-8 is read as written', () => {
  const bad = dataDir('cp1252', cp1252(row('t1', 'Koss KSC75'), row('t2', 'Caf\u00e9 Speaker')));
  assert.match(
    failure(() => loadDataset(bad)),
    new RegExp(`^DataError: ${join(bad, 'train.jsonl')}:2: ${NOT_UTF8.source}$`),
  );
  const badDev = dataDir('cp1252-dev', row('t1', 'Koss KSC75') + '\n', cp1252(row('d1', 'Koss'), row('d2', 'Enceinte \u00e0 piles')));
  assert.match(
    failure(() => loadDataset(badDev)),
    new RegExp(`^DataError: ${join(badDev, 'dev.jsonl')}:2: `),
  );
  // A line that is not JSON is named too (it had been a bare SyntaxError).
  const notJson = dataDir('not-json', `${row('t1', 'Koss KSC75')}\n{"id": "t2", "title"\n`);
  assert.match(
    failure(() => loadDataset(notJson)),
    new RegExp(`^DataError: ${join(notJson, 'train.jsonl')}:2: not JSON \\(`),
  );
  const good = dataDir('utf8', `${row('t1', 'Koss KSC75')}\r\n${row('t2', 'Caf\u00e9 Speaker')}\r\n`);
  const ds = loadDataset(good);
  assert.equal(
    ds.train.map((r) => r.title),
    ['Koss KSC75', 'Caf\u00e9 Speaker'],
  );
  assert.is(
    ds.hashes.train,
    createHash('sha256')
      .update(readFileSync(join(good, 'train.jsonl')))
      .digest('hex'),
  );
});

test('a labels file: a line that is not UTF-8 is a LabelsError naming file:line, counted and skipped; no title has U+FFFD', () => {
  const file = join(dir, 'labels-cp1252.jsonl');
  const bytes = cp1252(label('x1', 'Koss KSC75'), label('x2', 'Caf\u00e9 Speaker'));
  writeFileSync(file, bytes);
  const train: ProductRow[] = [{ id: 'x1', title: 'old', category: 'storage', source_category: 's', source: 'shop' }];
  const m = mergeLabels(train, [], [file]);
  assert.equal(
    m.errors.map((e) => [e.file, e.line]),
    [[file, 2]],
  );
  assert.match(m.errors[0]!.message, new RegExp(`^${file}:2: ${NOT_UTF8.source}$`));
  assert.equal([m.files[0]!.rows, m.files[0]!.bad, m.files[0]!.replaced, m.files[0]!.added], [2, 1, 1, 0]);
  assert.equal(
    m.train.map((r) => r.title),
    ['Koss KSC75'],
  );
  assert.ok(!m.train.some((r) => r.title.includes('\ufffd')));
  assert.is(m.files[0]!.sha256, createHash('sha256').update(bytes).digest('hex'));
});

test('npm run models -- --labels FILE (Windows-1252): the build names the file and line', () => {
  const first = JSON.parse(readFileSync(join(DATA, 'train.jsonl'), 'utf8').split('\n', 1)[0]!) as ProductRow;
  const labels = join(dir, 'review-cp1252.jsonl');
  writeFileSync(labels, cp1252(label(first.id, first.title), label('review-new-1', 'Enceinte \u00e0 piles')));
  const out = mkdtempSync(join(dir, 'out-'));
  const r = spawnSync('npx', ['tsx', 'training/build.ts', '--only', 'product-category', '--subset', '300', '--epochs', '1', '--out', out, '--labels', labels], {
    cwd: REPO,
    encoding: 'utf8',
    env: { ...process.env, PRODUCTS_LABELS: '' },
    timeout: BUILD_DEADLINE_MS,
  });
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`LabelsError: ${labels}:2: ${NOT_UTF8.source}`));
  assert.match(r.stderr, `labels ${labels}: 1 of 2 used (1 replaced a train row, 0 added); skipped: 0 in dev, 0 without a category, 0 superseded, 1 bad`);
  const report = JSON.parse(readFileSync(join(out, 'BUILD.json'), 'utf8')) as { labels: LabelsFileRecord[] };
  assert.is(report.labels[0]!.sha256, createHash('sha256').update(readFileSync(labels)).digest('hex'));
  assert.is(report.labels[0]!.bad, 1);
});

test('npm run models with a Windows-1252 data set: exit 1 naming the file and line, before any training', () => {
  const bad = dataDir('cli-cp1252', cp1252(row('t1', 'Koss KSC75'), row('t2', 'Caf\u00e9 Speaker')));
  const out = mkdtempSync(join(dir, 'out-'));
  const r = spawnSync('npx', ['tsx', 'training/build.ts', '--only', 'product-category', '--data', bad, '--out', out], {
    cwd: REPO,
    encoding: 'utf8',
    timeout: BUILD_DEADLINE_MS,
  });
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`DataError: ${join(bad, 'train.jsonl')}:2: ${NOT_UTF8.source}`));
});

test.run();
