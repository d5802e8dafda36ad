/** Reviewers' labels (`pipeline labels export`) joining the train part of a model build. */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeLabelsJsonl } from '../../lib/console/labels.js';
import type { Label } from '../../lib/console/review.js';
import type { ProductRow } from '../../training/data.js';
import { LabelsError, mergeLabels, labelsReport, type LabelsFileRecord } from '../../training/review-labels.js';

const REPO = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'review-labels-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const row = (id: string, category: string, extra: Partial<ProductRow> = {}): ProductRow => ({
  id,
  title: `title ${id}`,
  category,
  brand: `brand ${id}`,
  mpn: `mpn-${id}`,
  source_category: `retail ${category}`,
  source: 'shop',
  ...extra,
});

const label = (id: string, category: string, extra: Partial<Label> = {}): Label => ({
  id,
  title: `title ${id}`,
  category,
  source_category: 'audio',
  source: 'console-review',
  decision: 'correct',
  predicted: { category: 'audio', confidence: 0.41 },
  reviewedBy: 'ops',
  reviewedAt: Date.UTC(2026, 11, 1),
  ...extra,
});

/** Labels as `pipeline labels export` writes them (lib/console/labels.ts), plus raw lines. */
async function exportFile(name: string, labels: Label[], raw: string[] = []): Promise<string> {
  let text = '';
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  await writeLabelsJsonl(labels, out);
  const path = join(dir, name);
  writeFileSync(path, text + raw.map((l) => `${l}\n`).join(''));
  return path;
}

test('merge: a label replaces the train row with its id, new products are appended, dev ids and bad lines skipped', async () => {
  const train = [row('t1', 'audio'), row('t2', 'storage'), row('t3', 'software')];
  const dev = [row('d1', 'audio')];
  const a = await exportFile(
    'a.jsonl',
    [
      label('t2', 'computers', { brand: 'Acme', mpn: undefined }), // corrected: category and brand win, mpn kept
      label('n1', 'networking', { decision: 'confirm', brand: 'Netgear' }), // a product not in train
      label('d1', 'tv_video'), // in dev: never trained on
    ],
    [
      '{"id":"t3","title":"x"', // line 4: not JSON
      JSON.stringify({ id: 't3', title: 'x', category: 'software' }), // line 5: no decision
      JSON.stringify({ id: 't3', title: 'x', category: 'toasters', decision: 'correct' }), // line 6: unknown category
      JSON.stringify({ id: 't1', title: 'x', category: 'audio', decision: 'skip' }), // gives no category
      '',
      JSON.stringify({ id: 't3', title: 'x', category: 'software', decision: 'confirm', brand: 7 }), // line 9: brand not a string
    ],
  );
  const b = await exportFile('b.jsonl', [
    label('t2', 'peripherals', { reviewedAt: Date.UTC(2026, 10, 1) }), // older than a.jsonl's: a.jsonl wins
    label('n2', 'storage'),
  ]);
  const m = mergeLabels(train, dev, [a, b]);

  assert.equal(
    m.train.map((r) => [r.id, r.category]),
    [
      ['t1', 'audio'],
      ['t2', 'computers'],
      ['t3', 'software'],
      ['n1', 'networking'],
      ['n2', 'storage'],
    ],
  );
  assert.equal(m.train[1], { ...train[1]!, category: 'computers', brand: 'Acme', source: 'console-review' }, 'the retailer source_category and the mpn stay');
  assert.equal(m.train[3], { id: 'n1', title: 'title n1', category: 'networking', brand: 'Netgear', source_category: '*', source: 'console-review' });
  assert.is(train[1]!.category, 'storage', 'the input rows are not changed');

  assert.equal(
    m.errors.map((e) => [e.name, e.file, e.line]),
    [
      ['LabelsError', a, 4],
      ['LabelsError', a, 5],
      ['LabelsError', a, 6],
      ['LabelsError', a, 9],
    ],
  );
  assert.ok(m.errors.every((e) => e instanceof LabelsError));
  assert.match(m.errors[0]!.message, new RegExp(`^${a}:4: not JSON`));
  assert.match(m.errors[1]!.message, /:5: decision missing/);
  assert.match(m.errors[2]!.message, /:6: category "toasters" is not one the models learn/);
  assert.match(m.errors[3]!.message, /:9: brand is number/);

  const [fa, fb] = m.files as [LabelsFileRecord, LabelsFileRecord];
  assert.equal(
    { ...fa, sha256: '' },
    { file: a, sha256: '', rows: 8, used: 2, replaced: 1, added: 1, skipped_dev: 1, skipped_decision: 1, superseded: 0, bad: 4 },
  );
  assert.is(fa.sha256, createHash('sha256').update(readFileSync(a)).digest('hex'));
  assert.equal(
    { ...fb, sha256: '' },
    { file: b, sha256: '', rows: 2, used: 1, replaced: 0, added: 1, skipped_dev: 0, skipped_decision: 0, superseded: 1, bad: 0 },
  );

  const report = labelsReport(m).join('\n');
  assert.match(report, `labels ${a}: 2 of 8 used (1 replaced a train row, 1 added)`);
  assert.match(report, `LabelsError: ${a}:4: not JSON`);
  assert.match(report, `${a}: 1 labels skipped: their ids are in dev, which stays the evaluation set (d1)`);
});

test('merge: no labels files gives train back untouched; a missing file throws', () => {
  const train = [row('t1', 'audio')];
  const m = mergeLabels(train, [], []);
  assert.is(m.train, train);
  assert.equal(m.files, []);
  assert.throws(
    () => mergeLabels(train, [], [join(dir, 'nope.jsonl')]),
    (err: Error) => err instanceof LabelsError && err.message === `${join(dir, 'nope.jsonl')}: labels file not found`,
  );
});

test('npm run models -- --labels: the labels join the build and BUILD.json names the file', async () => {
  const train = readFileSync(join(REPO, '..', 'shared', 'data', 'products', 'train.jsonl'), 'utf8').split('\n', 1)[0]!;
  const dev = readFileSync(join(REPO, '..', 'shared', 'data', 'products', 'dev.jsonl'), 'utf8').split('\n', 1)[0]!;
  const first = JSON.parse(train) as ProductRow;
  const inDev = JSON.parse(dev) as ProductRow;
  const labels = await exportFile(
    'e2e.jsonl',
    [label(first.id, first.category === 'audio' ? 'storage' : 'audio', { title: first.title }), label('review-new-1', 'storage'), label(inDev.id, 'audio')],
    ['not json'],
  );
  const out = mkdtempSync(join(dir, 'out-'));
  const r = spawnSync('npx', ['tsx', 'training/build.ts', '--only', 'product-category', '--subset', '300', '--epochs', '1', '--out', out, '--labels', labels], {
    cwd: REPO,
    encoding: 'utf8',
    env: { ...process.env, PRODUCTS_LABELS: '' },
  });
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, `LabelsError: ${labels}:4: not JSON`);
  assert.match(r.stderr, `${labels}: 1 labels skipped: their ids are in dev`);
  const report = JSON.parse(readFileSync(join(out, 'BUILD.json'), 'utf8')) as { data: { train_rows: number }; labels: LabelsFileRecord[] };
  assert.is(report.labels.length, 1);
  assert.is(report.labels[0]!.file, labels);
  assert.is(report.labels[0]!.sha256, createHash('sha256').update(readFileSync(labels)).digest('hex'));
  assert.equal([report.labels[0]!.replaced, report.labels[0]!.added, report.labels[0]!.skipped_dev, report.labels[0]!.bad], [1, 1, 1, 1]);
  assert.is(report.data.train_rows, 301);
  const config = JSON.parse(readFileSync(join(out, 'product-category', 'config.json'), 'utf8')) as { id2label: Record<string, string> };
  assert.ok(Object.keys(config.id2label).length > 0);
});

test.run();
