/** Pure logic around the classifier: fine-label decoding, category groups, model provenance. */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeClassification, topK } from '../../lib/models/classifier.js';
import { modelContentHash, modelVersion } from '../../lib/models/provenance.js';
import { groupOf, parseGroups } from '../../lib/stream/category-groups.js';
import { fineLabels } from '../../training/fine-labels.js';
import type { ProductRow } from '../../training/data.js';

const logits = (p: number[]) => Float32Array.from(p, Math.log);

test('fine labels: category = sum of its subcategories, subcategory = best within it, top 3 overall', () => {
  const labels = ['audio/*', 'audio/headphones', 'storage/*', 'storage/usb flash drives', 'storage/memory cards'];
  // storage 0.55 in all beats audio 0.45, though audio/headphones (0.4) is the single best label.
  const c = decodeClassification(logits([0.05, 0.4, 0.05, 0.3, 0.2]), 0, labels);
  assert.is(c.label, 'storage');
  assert.ok(Math.abs(c.confidence - 0.55) < 1e-6);
  assert.is(c.subcategory, 'usb flash drives');
  assert.ok(Math.abs(c.subcategoryConfidence! - 0.3) < 1e-6);
  assert.equal(
    c.subcategories!.map((s) => s.label),
    ['audio/headphones', 'storage/usb flash drives', 'storage/memory cards'],
  );
});

test('fine labels: a residual <category>/* winner gives the category and no subcategory', () => {
  const c = decodeClassification(logits([0.7, 0.1, 0.1, 0.05, 0.05]), 0, [
    'audio/*',
    'audio/headphones',
    'storage/*',
    'storage/usb flash drives',
    'storage/memory cards',
  ]);
  assert.is(c.label, 'audio');
  assert.is(c.subcategory, undefined);
});

test('plain labels (a hub model) decode as before, with an offset into the batch', () => {
  const data = Float32Array.of(9, 9, 0, 2, 1);
  const c = decodeClassification(data, 2, ['a', 'b', 'c']);
  assert.is(c.label, 'b');
  assert.is(c.subcategories, undefined);
});

test('topK: the k largest, largest first, ties by index', () => {
  assert.equal(topK(Float64Array.of(0.1, 0.5, 0.2, 0.5, 0.05), 3), [1, 3, 2]);
  assert.equal(topK(Float64Array.of(0.3), 3), [0]);
  assert.equal(topK(Float64Array.of(1, 2, 3, 4, 5, 6), 2), [5, 4]);
});

test('groups: category or category/subcategory → group; duplicates and bad shapes are config errors', () => {
  const g = parseGroups('x', { electronics: ['audio', 'tv_video'], cases: ['audio/headphone cases'] });
  assert.is(groupOf(g, 'audio'), 'electronics');
  assert.is(groupOf(g, 'audio', 'headphone cases'), 'cases');
  assert.is(groupOf(g, 'audio', 'headphones'), 'electronics');
  assert.is(groupOf(g, 'storage'), undefined);
  assert.is(parseGroups('x', undefined).size, 0);
  assert.throws(() => parseGroups('x', { a: ['audio'], b: ['audio'] }), /already in group a/);
  assert.throws(() => parseGroups('x', { a: 'audio' }), /array of category names/);
  assert.throws(() => parseGroups('x', ['audio']), /object of group name/);
});

test('fineLabels: source categories with enough rows, the rest to <category>/*', () => {
  const row = (category: string, source_category: string): ProductRow => ({ id: '', title: '', category, source_category, source: '' });
  const rows = [row('audio', 'headphones'), row('audio', 'headphones'), row('audio', 'radios'), row('storage', 'usb')];
  const f = fineLabels(rows, ['audio', 'storage'], 2);
  assert.equal(f.labels, ['audio/*', 'storage/*', 'audio/headphones']);
  assert.equal(Array.from(f.coarseOf), [0, 1, 0]);
  assert.is(f.of(row('audio', 'headphones')), 2);
  assert.is(f.of(row('audio', 'radios')), 0);
  assert.is(f.of(row('nope', 'x')), -1);
});

test('model provenance: a content hash of every file but hidden ones, stable, and changed by any byte of them', () => {
  const root = mkdtempSync(join(tmpdir(), 'prov-'));
  try {
    mkdirSync(join(root, 'm', 'onnx'), { recursive: true });
    writeFileSync(join(root, 'm', 'config.json'), '{}');
    writeFileSync(join(root, 'm', 'onnx', 'model.onnx'), 'abc');
    const h1 = modelContentHash(join(root, 'm'));
    assert.match(h1!, /^[0-9a-f]{64}$/);
    assert.is(modelContentHash(join(root, 'm')), h1);
    assert.is(modelVersion('m', root), `m@sha256:${h1!.slice(0, 16)}`);
    writeFileSync(join(root, 'm', 'onnx', 'model.onnx'), 'abd');
    const h2 = modelContentHash(join(root, 'm'));
    assert.is.not(h2, h1);
    // Hidden files change without the model changing (a git checkout of a hub model, a desktop's folder view): left out.
    mkdirSync(join(root, 'm', '.git'));
    writeFileSync(join(root, 'm', '.git', 'index'), 'refreshed');
    writeFileSync(join(root, 'm', '.DS_Store'), 'x');
    assert.is(modelContentHash(join(root, 'm')), h2, 'hidden files do not change the version');
    assert.is(modelContentHash(join(root, 'missing')), null);
    assert.is(modelVersion('org/hub-model', root), 'org/hub-model');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();
