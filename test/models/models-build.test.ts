/** The model builder is deterministic: same seed, same bytes. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadClassifier } from '../../lib/models/classifier.js';
import { loadExtractor } from '../../lib/models/extractor.js';
import { fold } from '../../stages/domain/brands.js';
import { build, HELD_OUT_BRANDS_FILE, MODEL_NAMES } from '../../training/build.js';
import { isHoldout } from '../../training/train-classifier.js';

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'models-build-'));
  dirs.push(d);
  return d;
};

test.after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const REPO = resolve(import.meta.dirname, '../..');
// A reduced run: first 400 training rows, one epoch.
const SMALL = ['--subset', '400', '--epochs', '1', '--seed', '7'];

test('same seed rebuilds bit-identical model files', async () => {
  const a = tempDir();
  const b = tempDir();
  await build([...SMALL, '--out', a]);
  await build([...SMALL, '--out', b]);
  const listA = files(a)
    .map((f) => relative(a, f))
    .sort();
  const listB = files(b)
    .map((f) => relative(b, f))
    .sort();
  assert.equal(listA, listB);
  for (const name of MODEL_NAMES) {
    for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx']) assert.ok(listA.includes(join(name, f)), `${name}/${f}`);
  }
  // BUILD.json holds timings, so it is the one file allowed to differ.
  for (const f of listA.filter((f) => f !== 'BUILD.json')) {
    assert.ok(readFileSync(join(a, f)).equals(readFileSync(join(b, f))), `${f} differs`);
  }
  const report = JSON.parse(readFileSync(join(a, 'BUILD.json'), 'utf8')) as { seed: number; labels: unknown[]; models: Record<string, unknown> };
  assert.is(report.seed, 7);
  assert.equal(report.labels, [], "no reviewers' labels: BUILD.json says none");
  assert.equal(Object.keys(report.models).sort(), [...MODEL_NAMES].sort());

  // --only rebuilds one model with the same bytes as the full build.
  const c = tempDir();
  await build([...SMALL, '--out', c, '--only', 'product-category']);
  assert.ok(readFileSync(join(c, 'product-category/onnx/model.onnx')).equals(readFileSync(join(a, 'product-category/onnx/model.onnx'))));

  // Freshly built models load from a custom localModelPath.
  const cls = await loadClassifier('product-category', { localModelPath: `${a}/` });
  const [out] = await cls.classify(['HP 61 Black Ink Cartridge']);
  assert.ok(out !== undefined && out.confidence > 0);
  await cls.close();
  const ex = await loadExtractor('extract-computing', { localModelPath: `${a}/`, warmup: false });
  assert.is((await ex.extract(['Kingston 16GB USB drive'])).length, 1);
  await ex.close();
});

test('--hold-out-brands leaves a share of brands out of training and writes their rows beside the models', async () => {
  const d = tempDir();
  await build([...SMALL, '--out', d, '--only', 'extract-accessories', '--hold-out-brands', '0.2']);
  const held = readFileSync(join(d, HELD_OUT_BRANDS_FILE), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { brand: string });
  assert.ok(held.length > 20, `${held.length} rows held out`);
  for (const r of held) assert.ok(isHoldout(fold(r.brand), 0.2), r.brand);
  const report = JSON.parse(readFileSync(join(d, 'BUILD.json'), 'utf8')) as { data: { train_rows: number }; options: { hold_out_brands: number } };
  assert.is(report.options.hold_out_brands, 0.2);
  assert.is(report.data.train_rows, 400 - held.length);
  // The extractors' brand lexicon (brands.json) knows none of them.
  const lexicon = (JSON.parse(readFileSync(join(d, 'extract-accessories', 'brands.json'), 'utf8')) as { brands: Record<string, number> }).brands;
  assert.ok(Object.keys(lexicon).length > 20);
  for (const r of held) assert.is(lexicon[fold(r.brand)], undefined, r.brand);
  try {
    await build(['--hold-out-brands', '1.5', '--out', tempDir()]);
    assert.unreachable('should have thrown');
  } catch (err) {
    assert.is((err as Error).name, 'BuildError');
  }
});

test('--only into a folder with BUILD.json: each model keeps the seed, options and rows it was built with', async () => {
  const d = tempDir();
  await build(['--subset', '400', '--epochs', '1', '--seed', '7', '--out', d, '--only', 'extract-accessories']);
  await build(['--subset', '300', '--epochs', '1', '--seed', '9', '--out', d, '--only', 'product-category']);
  type Run = { seed: number; data: { train_rows: number }; options: { subset: number } };
  const report = JSON.parse(readFileSync(join(d, 'BUILD.json'), 'utf8')) as Run & { models: Record<string, { build: Run }> };
  const of = (r: Run) => [r.seed, r.options.subset, r.data.train_rows];
  assert.equal(of(report.models['extract-accessories']!.build), [7, 400, 400], 'the model not rebuilt keeps its own run');
  assert.equal(of(report.models['product-category']!.build), [9, 300, 300]);
  assert.equal(of(report), [9, 300, 300], 'the top level is the last run');
});

test('--subset 0 and --epochs 0 are refused; --help prints the usage', async () => {
  for (const bad of [
    ['--subset', '0'],
    ['--epochs', '0'],
  ]) {
    try {
      await build([...bad, '--out', tempDir()]);
      assert.unreachable(`${bad.join(' ')} was accepted`);
    } catch (err) {
      assert.is((err as Error).name, 'BuildError');
      assert.match((err as Error).message, `${bad[0]} must be an integer of at least 1, got 0`);
    }
  }
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO, 'training/build.ts'), '--help'], { cwd: REPO, encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /^usage: npm run models .*--only/);
  assert.match(r.stdout, /--subset rows .*at least 1/);
});

test('unknown --only names are rejected', async () => {
  try {
    await build(['--only', 'nope', '--out', tempDir()]);
    assert.unreachable('should have thrown');
  } catch (err) {
    assert.is((err as Error).name, 'BuildError');
  }
});

test.run();
