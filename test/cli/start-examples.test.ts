/** `npm start`'s examples: two products with a model number and one with a barcode, whatever order the store gives them in. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ExamplePicker, exampleLine, shortTitle, type StoredDoc } from '../../scripts/commands/start-examples.js';

const doc = (id: string, found: Record<string, unknown>): StoredDoc => ({
  route: ['preprocess', 'classify'],
  input: { id, title: `title ${id}` },
  outputs: { classify: { category: 'storage' }, 'extract.computing': found },
});

test('the barcode example comes after two model-number examples even when it is seen first', () => {
  const p = new ExamplePicker();
  for (const d of [
    doc('g1', { gtin: '885909950805', mpn: 'X1' }),
    doc('m1', { mpn: 'SDCZ48' }),
    doc('n1', { brand: 'Sony' }),
    doc('m2', { mpn: 'CE285A' }),
    doc('g2', { gtin: '012345678905' }),
    doc('m3', { mpn: 'K72349US' }),
  ])
    p.offer(d);
  assert.equal(
    p.picked.map((d) => d.input.id),
    ['m1', 'm2', 'g1'],
  );
});

test('fewer examples when the store has fewer; a line shows what was found', () => {
  const p = new ExamplePicker();
  p.offer(doc('m1', { mpn: 'SDCZ48', brand: 'SanDisk' }));
  assert.equal(
    p.picked.map((d) => d.input.id),
    ['m1'],
  );
  assert.is(exampleLine(doc('m1', { mpn: 'SDCZ48', brand: 'SanDisk' })), '    title m1\n      → {"category":"storage","brand":"SanDisk","mpn":"SDCZ48"}');
});

test('a long title is cut at a word and ends in … (it was cut at 70 characters mid-word, with nothing to say so)', () => {
  const title = 'Lexmark Prestige Pro805 Small Office Wireless Multifunction Inkjet Printer';
  assert.is(shortTitle(title), 'Lexmark Prestige Pro805 Small Office Wireless Multifunction Inkjet…');
  assert.ok(shortTitle(title).length <= 70);
  assert.is(shortTitle('a'.repeat(80)), `${'a'.repeat(69)}…`, 'no space: cut mid-word');
  assert.is(shortTitle('short title'), 'short title');
});

test.run();
