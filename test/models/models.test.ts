/**
 * The shipped models under models/, loaded through the real transformers.js path
 * with remote loading off.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AutoTokenizer } from '@huggingface/transformers';
import { loadClassifier, type Classifier } from '../../lib/models/classifier.js';
import { loadEmbedder, type Embedder } from '../../lib/models/embedder.js';
import { loadExtractor, type Entity, type Extractor } from '../../lib/models/extractor.js';
import { checkGtin, gtinCheckDigit } from '../../stages/domain/gtin.js';
import { DEFAULT_MODEL_PATH, loadModel, ModelLoadError } from '../../lib/models/loader.js';
import { loadDataset } from '../../training/data.js';
import { encode, type Vocab } from '../../training/tokenizer.js';

const EXTRACTORS = ['extract-electronics', 'extract-computing', 'extract-accessories'] as const;

let classifier: Classifier;
const extractors = new Map<string, Extractor>();
let embedder: Embedder;

test.before(async () => {
  classifier = await loadClassifier('product-category');
  for (const name of EXTRACTORS) extractors.set(name, await loadExtractor(name));
  embedder = await loadEmbedder('product-embed');
});

test.after(async () => {
  await classifier.close();
  for (const e of extractors.values()) await e.close();
  await embedder.close();
});

const withGtin = (body: string): string => body + String(gtinCheckDigit(body));

test('a missing model fails with ModelLoadError, not a download', async () => {
  try {
    await loadModel('no-such-model', 'sequence-classification');
    assert.unreachable('should have thrown');
  } catch (err) {
    assert.instance(err, ModelLoadError);
    // It names the folder, what is there, and the switch for hub ids (it had said "reading 'tokenizer_class'").
    assert.match((err as Error).message, /no model folder \S*no-such-model .*product-category.*ALLOW_REMOTE_MODELS=1/);
  }
});

test('transformers.js tokenizes dev titles exactly as the builder trained on them', async () => {
  // By its folder: loadModel no longer sets transformers.js's global env.localModelPath (test/models/model-path.test.ts).
  const tokenizer = await AutoTokenizer.from_pretrained(join(DEFAULT_MODEL_PATH, 'product-category'), { local_files_only: true });
  const json = JSON.parse(readFileSync(join(DEFAULT_MODEL_PATH, 'product-category', 'tokenizer.json'), 'utf8')) as {
    model: { vocab: Record<string, number> };
  };
  const tokens = Object.keys(json.model.vocab);
  const vocab: Vocab = { tokens, ids: new Map(Object.entries(json.model.vocab)) };
  const titles = [
    ...loadDataset()
      .dev.slice(0, 300)
      .map((r) => r.title),
    'Sony™ Bravia 55” TV — Café [MASK]',
    'x'.repeat(400),
  ];
  for (const title of titles) {
    const theirs = (tokenizer(title, { truncation: true }).input_ids.tolist() as bigint[][])[0]!.map(Number);
    assert.equal(theirs, Array.from(encode(title, vocab).ids), title);
  }
});

test('classifier gets obvious titles right, deterministically', async () => {
  const titles = [
    'HP 61 Black Original Ink Cartridge CH561WN',
    'Brother TN450 High Yield Toner Cartridge',
    'Logitech M325 Wireless Mouse Black',
    'SanDisk Ultra 32GB microSDHC Memory Card',
    'Canon PowerShot SX260 HS 12.1 MP Digital Camera',
  ];
  const expected = ['printers_ink', 'printers_ink', 'peripherals', 'storage', 'cameras_photo'];
  const first = await classifier.classify(titles);
  const second = await classifier.classify(titles);
  assert.equal(first, second);
  assert.equal(
    first.map((c) => c.label),
    expected,
  );
  for (const c of first) assert.ok(c.confidence > 0 && c.confidence <= 1);
  assert.equal(await classifier.classify([]), []);
});

test('classifier accuracy on dev through transformers.js', async () => {
  const dev = loadDataset().dev.slice(0, 500);
  const out = await classifier.classify(dev.map((r) => r.title));
  const acc = out.filter((c, i) => c.label === dev[i]!.category).length / dev.length;
  assert.ok(acc > 0.8, `accuracy ${acc}`);
});

function checkSpans(input: string, entities: Entity[]): void {
  for (const e of entities) assert.is(e.text, input.slice(e.start, e.end), `${input}: ${JSON.stringify(e)}`);
}

test('extractor finds brand, MPN and a valid GTIN with exact spans', async () => {
  const gtin = withGtin('02724278420');
  const title = `Sony MDR-ZX100 ZX Series Stereo Headphones Black UPC ${gtin}`;
  const ex = extractors.get('extract-electronics')!;
  const [first] = await ex.extract([title]);
  const [again] = await ex.extract([title]);
  assert.equal(first, again);
  checkSpans(title, first!);
  const find = (type: string): string | undefined => first!.find((e) => e.type === type)?.text;
  assert.is(find('BRAND'), 'Sony');
  assert.is(find('MPN'), 'MDR-ZX100');
  assert.is(find('GTIN'), gtin);
});

test('extractor reports GTIN-shaped numbers whatever the check digit; the check digit tells them apart', async () => {
  const valid = withGtin('400638133393');
  const invalid = valid.slice(0, -1) + String((Number(valid.slice(-1)) + 1) % 10);
  const ex = extractors.get('extract-computing')!;
  const [good, bad] = await ex.extract([`Kingston 16GB USB Flash Drive EAN: ${valid}`, `Kingston 16GB USB Flash Drive EAN: ${invalid}`]);
  assert.ok(
    good!.some((e) => e.type === 'GTIN' && e.text === valid),
    JSON.stringify(good),
  );
  const reported = bad!.find((e) => e.type === 'GTIN');
  assert.is(reported?.text, invalid, JSON.stringify(bad));
  assert.is(checkGtin(reported!.text).reason, 'check_digit');
});

test('extractor spans match the original text, case and odd characters included', async () => {
  const titles = [
    'SONY™ Bravia KDL-55EX720 55-Inch 3D LED TV — Café Édition',
    'StarTech.com  USB2HAB2M 2m   USB Cable [MASK] (black)',
    '',
    'x'.repeat(300) + ' Belkin F3U133-06 6 ft',
    ...loadDataset()
      .dev.slice(0, 200)
      .map((r) => r.title),
  ];
  for (const ex of extractors.values()) {
    const out = await ex.extract(titles);
    assert.is(out.length, titles.length);
    out.forEach((entities, i) => checkSpans(titles[i]!, entities));
  }
});

test('embedder: unit vectors, near-duplicates closer than unrelated titles', async () => {
  const [a, b, c] = await embedder.embed([
    'Logitech M325 Wireless Mouse Black',
    'Logitech M325 Wireless Optical Mouse - Black',
    'Avery 5160 Easy Peel Address Labels 3000 Pack',
  ]);
  const dot = (x: Float32Array, y: Float32Array): number => x.reduce((s, v, i) => s + v * y[i]!, 0);
  assert.ok(Math.abs(dot(a!, a!) - 1) < 1e-5);
  assert.ok(dot(a!, b!) > dot(a!, c!), `${dot(a!, b!)} vs ${dot(a!, c!)}`);
  const again = await embedder.embed(['Logitech M325 Wireless Mouse Black']);
  assert.equal(Array.from(again[0]!), Array.from(a!));
  assert.is(a!.length, embedder.dimension);
});

test.run();
