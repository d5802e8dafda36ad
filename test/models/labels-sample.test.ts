/**
 * `data/sample.jsonl` (what `npm start` and the README produce) is all dev ids: labels made on it
 * never reach a build. The docs of the labels loop say so and how to try it on train ids (they had
 * presented the loop on the sample without a word about it).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadDataset } from '../../training/data.js';
import { mergeLabels } from '../../training/review-labels.js';

const REPO = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'labels-sample-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const sample = readFileSync(join(REPO, 'data', 'sample.jsonl'), 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as { id: string; title: string });

test('a label on every sample product is skipped as dev: the sample trains nothing', () => {
  const ds = loadDataset();
  const file = join(dir, 'labels.jsonl');
  const label = (p: { id: string; title: string }) =>
    JSON.stringify({ id: p.id, title: p.title, category: 'audio', decision: 'correct', source: 'console-review', reviewedAt: '2026-01-01T00:00:00Z' });
  writeFileSync(file, sample.map(label).join('\n') + '\n');
  const m = mergeLabels(ds.train, ds.dev, [file]);
  assert.is(m.files[0]!.used, 0);
  assert.is(m.files[0]!.skipped_dev, sample.length);
  assert.ok(
    ds.train.slice(0, 500).every((r) => !ds.dev.some((d) => d.id === r.id)),
    'the first 500 train rows the docs suggest are not in dev',
  );
});

test('docs/console.md and docs/models.md say so where the labels loop is described, with the train-ids way to try it', () => {
  for (const doc of ['docs/console.md', 'docs/models.md']) {
    const text = readFileSync(join(REPO, doc), 'utf8').replace(/\s+/g, ' ');
    const loop = text.slice(text.indexOf('pipeline labels export'));
    assert.match(loop, /`data\/sample\.jsonl`[^.]*(is all dev ids|products of the \*\*dev\*\* set)/, `${doc}: the sample is dev ids`);
    assert.match(loop, 'head -n 500 ../shared/data/products/train.jsonl > train-500.jsonl', `${doc}: how to try the loop on train ids`);
  }
});

test.run();
