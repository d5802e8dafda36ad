/**
 * `pipeline eval`'s attribute figures (training/eval/attributes.ts) on real titles from the data:
 * the reference is the extractors' training labeller (its spans for the labelled category's group,
 * normalised by units.ts), any of a title's spans counts, a wrong value or another attribute does
 * not; attributes given where the labeller finds none, and the schema flags, are counted apart.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { scoreAttributes } from '../../training/eval/attributes.js';

const DRIVE = 'Western Digital 1 TB AV-GP SATA 3 Gb s Intellipower 64 MB Cache Bulk OEM AV Hard Drive- WD10EURS';
const TV = 'AVF 750S-A Standard Wall Mount for CRT TV Upto 27-Inch Silver';
const CABLE = 'TRENDnet USB VGA KVM Cable 6 ft. Male to Male TK-CU06';
const MOUSE = 'Kensington K72349US Wireless Mouse for Netbooks';

test("a value is right when it is one of the title's labelled spans, in value and unit; text compared folded", () => {
  const s = scoreAttributes([
    { title: DRIVE, category: 'storage', predicted: { capacity: { value: 1, unit: 'TB', text: '1 TB' } } },
    { title: DRIVE, category: 'storage', predicted: { capacity: { value: 64, unit: 'MB', text: '64 MB' } } },
    { title: DRIVE, category: 'storage', predicted: { capacity: { value: 2, unit: 'TB', text: '2 TB' } } },
    { title: DRIVE, category: 'storage', predicted: {} },
    { title: TV, category: 'tv_video', predicted: { size: { value: 27, unit: 'in', text: '27-Inch' } } },
    { title: TV, category: 'tv_video', predicted: { size: { text: '27-' } } },
    { title: CABLE, category: 'cables_power', predicted: { length: { value: 6, unit: 'ft', text: '6 ft', metres: 1.8288, feet: 6 } } },
  ]);
  assert.equal(s.kinds, [
    { name: 'capacity', n: 4, valueRight: 2, textRight: 2 },
    { name: 'length', n: 1, valueRight: 1, textRight: 1 },
    { name: 'size', n: 2, valueRight: 1, textRight: 1 },
  ]);
});

test('a record routed to another group is scored on its labelled group: an attribute of another name is a miss', () => {
  const s = scoreAttributes([{ title: TV, category: 'tv_video', predicted: { capacity: { value: 27, unit: 'GB', text: '27' } } }]);
  assert.equal(s.kinds, [{ name: 'size', n: 1, valueRight: 0, textRight: 0 }]);
});

test('titles without a labelled span: counted apart, with how many were given the attribute all the same', () => {
  const s = scoreAttributes([
    { title: MOUSE, category: 'peripherals', predicted: {} },
    { title: MOUSE, category: 'peripherals', predicted: { capacity: { value: 72349, unit: 'KB', text: '72349' } } },
    { title: MOUSE, category: 'peripherals' },
  ]);
  assert.equal(s.kinds, []);
  assert.equal(s.unlabelled, { n: 3, given: 1 });
});

test("schema flags: records validate checked, those flagged, and those flagged though the title has the labeller's span", () => {
  const s = scoreAttributes([
    { title: DRIVE, category: 'storage', predicted: {}, complete: false },
    { title: MOUSE, category: 'storage', predicted: {}, complete: false },
    { title: TV, category: 'tv_video', predicted: { size: { value: 27, unit: 'in', text: '27-Inch' } }, complete: true },
    { title: CABLE, category: 'cables_power', predicted: {} },
  ]);
  assert.equal(s.schema, { checked: 3, flagged: 2, flaggedWithSpan: 1 });
});

test.run();
