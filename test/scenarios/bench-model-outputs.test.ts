import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compareDigests, outputDigest, outputsLine } from '../../bench/model-outputs.js';
import { parseOptions } from '../../bench/options.js';

const outputs = (brand: string, confidence: number) => ({
  preprocess: { text: 'Koss EQ50 3-Band Stereo Equalizer' },
  classify: { category: 'audio', confidence, group: 'electronics', top: [{ category: 'audio', confidence }] },
  'extract.electronics': { brand, mpn: 'EQ50', entities: [{ type: 'BRAND', text: brand, score: confidence }] },
});

test('an output digest keeps the fields a stage hands on and leaves scores out', () => {
  assert.is(outputDigest(outputs('Koss', 0.91)), outputDigest(outputs('Koss', 0.9100001)), 'a score moved in its last bits');
  assert.is.not(outputDigest(outputs('Koss', 0.91)), outputDigest(outputs('Kos', 0.91)), 'another brand');
  // Stage order in the object does not matter (an envelope's outputs are in visit order, the loop's too).
  const o = outputs('Koss', 0.91);
  const reversed = Object.fromEntries(Object.entries(o).reverse());
  assert.is(outputDigest(reversed), outputDigest(o));
});

test('compareDigests counts records the same on both sides and shows the first that differ or are missing', () => {
  const project = new Map([
    ['a', 'x'],
    ['b', 'y'],
    ['c', 'z'],
  ]);
  const c = compareDigests(project, { a: 'x', b: 'other', d: 'w' });
  assert.is(c.compared, 4);
  assert.is(c.same, 1);
  assert.equal(
    c.differing.map((d) => d.id),
    ['b', 'c', 'd'],
  );
  assert.match(
    outputsLine(c),
    /^1 of 4 records give the same fields in the pipeline and the bare loop; differing: b pipeline y bare other; c pipeline z bare -; d pipeline - bare w$/,
  );
  assert.is(outputsLine(compareDigests(new Map([['a', 'x']]), { a: 'x' })), '1 of 1 records give the same fields in the pipeline and the bare loop');
});

test('--check-outputs: off by default, on with --quick unless set', () => {
  assert.is(parseOptions([]).checkOutputs, false);
  assert.is(parseOptions(['--quick']).checkOutputs, true);
  assert.is(parseOptions(['--quick', '--check-outputs', 'no']).checkOutputs, false);
  assert.is(parseOptions(['--check-outputs', 'yes']).checkOutputs, true);
  assert.throws(() => parseOptions(['--check-outputs', 'maybe']), /--check-outputs expects yes or no/);
});

test.run();
