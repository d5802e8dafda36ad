/**
 * Tokenise once: token rows made by one model's tokenizer (transformers.js) rebuild exactly the
 * batch the tokenizer would have made, later models with the same tokenizer give the same results
 * from them, and a stage uses carried ids only when tokenizer and text match.
 */
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadClassifier, type Classifier } from '../../lib/models/classifier.js';
import { loadEmbedder, type Embedder } from '../../lib/models/embedder.js';
import { loadExtractor, type Extractor } from '../../lib/models/extractor.js';
import { AlignmentError } from '../../lib/models/align.js';
import { loadModel, type LoadedModel } from '../../lib/models/loader.js';
import { batchOfRows, rowsOf, type TokenRows } from '../../lib/models/token-rows.js';
import { newEnvelope, type Message } from '../../lib/stream/codec.js';
import { carriedRows, carryRows } from '../../stages/domain/carried-tokens.js';

// Dev titles of every length, a long one (truncated at 128 tokens) and odd characters.
const TITLES = [
  ...readFileSync(new URL('../../../shared/data/products/dev.jsonl', import.meta.url), 'utf8')
    .trim()
    .split('\n')
    .slice(0, 40)
    .map((l) => (JSON.parse(l) as { title: string }).title),
  'Sony™ WH-1000XM4 “Noise Cancelling” 30° tilt',
  'x',
  Array.from({ length: 200 }, (_, i) => `word${i}`).join(' '),
];

let model: LoadedModel;
let classifier: Classifier;
let extractor: Extractor;
let embedder: Embedder;

test.before(async () => {
  model = await loadModel('extract-computing', 'token-classification');
  classifier = await loadClassifier('product-category');
  extractor = await loadExtractor('extract-electronics');
  embedder = await loadEmbedder('product-embed');
});

test.after(async () => {
  for (const m of [model, classifier, extractor, embedder]) await m.close();
});

const tensors = (b: ReturnType<LoadedModel['tokenize']>) =>
  Object.fromEntries(Object.entries(b).map(([k, t]) => [k, { dims: t.dims, data: Array.from(t.data as BigInt64Array, Number) }]));

test('rows rebuild the padded batch the tokenizer makes, token_type_ids and truncation included', () => {
  const direct = model.tokenize(TITLES);
  const rows = rowsOf(direct);
  assert.is(rows.length, TITLES.length);
  assert.is(rows.at(-1)!.length, 128, 'the long title is truncated to model_max_length');
  assert.ok('token_type_ids' in direct);
  assert.equal(tensors(batchOfRows(rows, { padId: 0, side: 'right', typeIds: true })), tensors(direct));
});

test('tokenize with some rows known: the same batch, and the unknown rows are filled in', () => {
  const full = rowsOf(model.tokenize(TITLES));
  const known: TokenRows = full.map((r, i) => (i % 3 === 0 ? r : undefined));
  const batch = model.tokenize(TITLES, known);
  assert.equal(tensors(batch), tensors(model.tokenize(TITLES)));
  assert.equal(known, full);
  // All known: the tokenizer is not needed; the rows decide what the model sees.
  const swapped: TokenRows = [full[1], full[0]];
  assert.equal(rowsOf(model.tokenize(['a', 'b'], swapped)), [full[1], full[0]]);
});

test('every shipped model has the same tokenizer id; the models give the same results from carried rows', async () => {
  const ids = new Set([model.tokenizerId, classifier.tokenizerId, extractor.tokenizerId, embedder.tokenizerId]);
  assert.is(ids.size, 1);
  const rows: TokenRows = TITLES.map(() => undefined);
  const classes = await classifier.classify(TITLES, rows);
  assert.ok(rows.every((r) => r !== undefined && r.length > 0));
  assert.equal(await extractor.extract(TITLES, [...rows]), await extractor.extract(TITLES));
  assert.equal(await embedder.embed(TITLES, [...rows]), await embedder.embed(TITLES));
  assert.equal(await classifier.classify(TITLES, [...rows]), classes);
});

test('a stage uses carried ids only when made by its tokenizer from its text', async () => {
  const msgs: Message[] = ['SanDisk Ultra 64GB USB 3.0 Flash Drive SDCZ48-064G-A46', 'Kingston DataTraveler 32GB'].map((title, i) => ({
    id: `1-${i}`,
    stream: 'extract',
    envelope: newEnvelope({ id: `k${i}`, title }),
  }));
  const texts = msgs.map((m) => m.envelope.input.title);
  const rows: TokenRows = [undefined, undefined];
  await classifier.classify(texts, rows);
  carryRows(msgs, texts, classifier.tokenizerId, rows);
  assert.equal(
    msgs.map((m) => m.envelope.tokens?.ids),
    rows,
  );
  assert.equal(carriedRows(msgs, texts, extractor.tokenizerId), rows);
  assert.equal(carriedRows(msgs, texts, 'another-tokenizer'), [undefined, undefined]);
  assert.equal(carriedRows(msgs, ['SanDisk Ultra 64GB', texts[1]!], extractor.tokenizerId), [undefined, rows[1]]);
  // Carried ids are what the extractor reads: the second title's ids under the first's text do not align.
  try {
    await extractor.extract([texts[0]!], [rows[1]]);
    assert.unreachable('ids of another text were used without an error');
  } catch (err) {
    assert.instance(err, AlignmentError);
  }
  assert.equal(await extractor.extract([texts[0]!], [rows[0]]), await extractor.extract([texts[0]!]));
  // Ids that are not integers are not used.
  msgs[0]!.envelope.tokens!.ids = ['x' as unknown as number];
  assert.is(carriedRows(msgs, texts, extractor.tokenizerId)[0], undefined);
});

test.run();
