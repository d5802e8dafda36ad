/** Unit normalisation, on spans taken from real titles of the data set (dev.jsonl). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { normalizeAttributes, parseQuantity } from '../stages/domain/units.js';

test('capacity: GB / TB / MB spellings from titles', () => {
  assert.equal(parseQuantity('capacity', '64GB'), { value: 64, unit: 'GB', text: '64GB' });
  assert.equal(parseQuantity('capacity', '1.5 TB'), { value: 1.5, unit: 'TB', text: '1.5 TB' });
  assert.equal(parseQuantity('capacity', '3.0 Gb'), { value: 3, unit: 'GB', text: '3.0 Gb' });
  assert.equal(parseQuantity('capacity', '256MB'), { value: 256, unit: 'MB', text: '256MB' });
  assert.equal(parseQuantity('capacity', '16 Gig'), { value: 16, unit: 'GB', text: '16 Gig' });
});

test('screen size in inches: "55-Inch", "10.1-Inch", "11inch", "120in.", "15.4 Inches"', () => {
  assert.equal(parseQuantity('size', '55-Inch'), { value: 55, unit: 'in', text: '55-Inch' });
  assert.equal(parseQuantity('size', '10.1-Inch'), { value: 10.1, unit: 'in', text: '10.1-Inch' });
  assert.equal(parseQuantity('size', '11inch')?.value, 11);
  assert.equal(parseQuantity('size', '120in.')?.unit, 'in');
  assert.equal(parseQuantity('size', '15.4 Inches')?.value, 15.4);
  assert.is(parseQuantity('size', '16GB'), null, 'a capacity is not a screen size');
});

test('lengths in metres and feet: "6 ft", "10-Feet", "1.8M", "1.82 Meters", "2 Meter"', () => {
  assert.equal(parseQuantity('length', '6 ft'), { value: 6, unit: 'ft', text: '6 ft', metres: 1.8288, feet: 6 });
  assert.equal(parseQuantity('length', '10-Feet'), { value: 10, unit: 'ft', text: '10-Feet', metres: 3.048, feet: 10 });
  assert.equal(parseQuantity('length', '1.8M'), { value: 1.8, unit: 'm', text: '1.8M', metres: 1.8, feet: 5.9055 });
  assert.equal(parseQuantity('length', '1.82 Meters')?.feet, 5.9711);
  assert.equal(parseQuantity('length', '30cm'), { value: 30, unit: 'cm', text: '30cm', metres: 0.3, feet: 0.9843 });
});

test('normalizeAttributes keeps the text of a span that does not parse', () => {
  assert.equal(normalizeAttributes({ capacity: '64GB', size: 'large' }), { capacity: { value: 64, unit: 'GB', text: '64GB' }, size: { text: 'large' } });
});

test('a range of two quantities in one unit: the upper end as the value, the lower as min (wall mounts)', () => {
  assert.equal(normalizeAttributes({ size: '37-Inch to 52-Inch' }), { size: { value: 52, unit: 'in', text: '37-Inch to 52-Inch', min: 37 } });
  assert.equal(normalizeAttributes({ size: '13 Inch to 28 Inch' }).size, { value: 28, unit: 'in', text: '13 Inch to 28 Inch', min: 13 });
  assert.equal(normalizeAttributes({ length: '3 ft to 6 ft' }).length, { value: 6, unit: 'ft', text: '3 ft to 6 ft', metres: 1.8288, feet: 6, min: 3 });
  // Not a range: other units, a falling pair, a text that is no pair of quantities.
  assert.equal(normalizeAttributes({ length: '6 ft to 2 m' }).length, { value: 6, unit: 'ft', text: '6 ft to 2 m', metres: 1.8288, feet: 6 });
  assert.equal(normalizeAttributes({ size: '52-Inch to 37-Inch' }).size, { value: 52, unit: 'in', text: '52-Inch to 37-Inch' });
  assert.equal(normalizeAttributes({ size: 'up to 27-Inch' }).size, { value: 27, unit: 'in', text: 'up to 27-Inch' });
});

test.run();
