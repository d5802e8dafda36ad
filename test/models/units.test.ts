/** Unit normalisation, on spans taken from real titles of the data set (dev.jsonl). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { normalizeAttributes, parseQuantity } from '../../stages/domain/units.js';
import { snapQuantity } from '../../stages/domain/spans.js';
import { checkSchema, parseSchemas } from '../../stages/domain/schema.js';
import { cleanText } from '../../stages/domain/text.js';

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
  // Not a range: other units, a falling pair, a text that is no pair of quantities (the first quantity, its text up to it).
  assert.equal(normalizeAttributes({ length: '6 ft to 2 m' }).length, { value: 6, unit: 'ft', text: '6 ft', metres: 1.8288, feet: 6 });
  assert.equal(normalizeAttributes({ size: '52-Inch to 37-Inch' }).size, { value: 52, unit: 'in', text: '52-Inch' });
  assert.equal(normalizeAttributes({ size: 'up to 27-Inch' }).size, { value: 27, unit: 'in', text: 'up to 27-Inch' });
});

test('thousands: "1,000 GB" is 1000 GB (the comma had been read as a decimal point: 1 GB); a decimal comma stays one', () => {
  assert.equal(parseQuantity('capacity', '1,000 GB'), { value: 1000, unit: 'GB', text: '1,000 GB' });
  assert.equal(parseQuantity('length', '1,000ft')?.value, 1000);
  assert.equal(parseQuantity('capacity', '1,5 TB')?.value, 1.5);
  assert.equal(parseQuantity('capacity', '2,000,000 KB')?.value, 2_000_000);
});

test('a span cut after a thousands separator grows to the whole number; a value of 0 is no quantity (it had counted as present for required)', () => {
  // dev.jsonl wa-amazon-6591: the tagger's span was "000 FT", stored as a length of 0 ft.
  const title = 'CABLESTOGO 27350 CAT-5E 350 MHZ SOLID PVC CMR CABLE 1 000 FT BLUE -RPD27350';
  const at = title.indexOf('000 FT');
  const grown = snapQuantity(title, { type: 'LENGTH', text: '000 FT', start: at, end: at + 6, score: 0.9 });
  assert.is(grown.text, '1 000 FT');
  assert.equal(normalizeAttributes({ length: grown.text }).length, { value: 1000, unit: 'ft', text: '1 000 FT', metres: 304.8, feet: 1000 });
  const glued = 'Belden 1,000ft Cat6 Bulk Cable';
  assert.is(snapQuantity(glued, { type: 'LENGTH', text: '000ft', start: 9, end: 14, score: 0.9 }).text, '1,000ft');
  // What still cannot be read whole is text only, and a schema's required attribute is missing.
  const zero = normalizeAttributes({ capacity: '000 GB' });
  assert.equal(zero, { capacity: { text: '000 GB' } });
  assert.is(parseQuantity('length', '0 ft'), null);
  const table = parseSchemas('s', { storage: { required: ['capacity'] } });
  assert.equal(checkSchema(table, 'storage', undefined, zero)?.missingRequired, ['capacity']);
});

test('inch and foot marks are units: 65", 70″ (NFKC: 70′′), 6\'; a span running on past its quantity keeps the text up to it', () => {
  assert.is(cleanText('Vizio 70\u2033 LED Smart TV'), 'Vizio 70′′ LED Smart TV', 'what the tagger and the rules read');
  assert.equal(parseQuantity('size', '70′′'), { value: 70, unit: 'in', text: '70′′' });
  assert.equal(parseQuantity('size', '65"'), { value: 65, unit: 'in', text: '65"' });
  assert.equal(parseQuantity('length', "6'"), { value: 6, unit: 'ft', text: "6'", metres: 1.8288, feet: 6 });
  assert.equal(parseQuantity('length', '6′')?.unit, 'ft');
  // "AmazonBasics HDMI Cable - 6 Feet (1.8 Meters)" and dev's "… Cable 6 Feet 1.82 Meters Beige".
  assert.equal(parseQuantity('length', '6 Feet (1.8 Meters'), { value: 6, unit: 'ft', text: '6 Feet', metres: 1.8288, feet: 6 });
  assert.is(parseQuantity('length', '6 Feet 1.82 Meters')?.text, '6 Feet');
});

test.run();
