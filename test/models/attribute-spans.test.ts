/** Capacity spans that measure a part or a rate, not the product (titles from the data set). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Entity } from '../../lib/models/bio.js';
import { productAttributes, withoutBrandSpans } from '../../stages/domain/attribute-spans.js';
import { entitiesToFields } from '../../stages/extract.js';

const capacity = (text: string, piece: string, score = 1, from = 0): Entity => {
  const start = text.indexOf(piece, from);
  return { type: 'CAPACITY', text: piece, start, end: start + piece.length, score };
};

test("a drive's cache and its interface's rate are not its capacity", () => {
  const t = 'Western Digital 1 TB AV-GP SATA 3 Gb s Intellipower 64 MB Cache Bulk OEM AV Hard Drive- WD10EURS';
  const entities = [capacity(t, '3 Gb'), capacity(t, '64 MB'), capacity(t, '1 TB', 0.9)];
  assert.equal(entitiesToFields(entities).attributes, { capacity: { value: 3, unit: 'GB', text: '3 Gb' } }, 'the best span alone');
  assert.equal(productAttributes(t, entities), [entities[2]]);
  assert.equal(entitiesToFields(productAttributes(t, entities)).attributes, { capacity: { value: 1, unit: 'TB', text: '1 TB' } });
});

test('a motherboard has no capacity; "S-Professional" and a span over two quantities are left alone', () => {
  const m = 'GIGABYTE GA-990FXA-UD3 AM3 AMD 990FX SATA 6Gb s USB 3.0 ATX AMD Motherboard';
  assert.equal(productAttributes(m, [capacity(m, '6Gb')]), []);
  const w = 'Wintec Filemate 8 GB S-Professional CompactFlash Card';
  assert.equal(productAttributes(w, [capacity(w, '8 GB')]).length, 1, 'an S that starts a word is not a rate');
  const s = 'SanDisk 16GB 60MB s Extreme Compact Flash Card SDCFX-016G-A61 US Retail Package';
  assert.equal(productAttributes(s, [capacity(s, '16GB 60MB')]).length, 1, 'the tagger ran two quantities together');
  const rate = 'Seagate Momentus 7200.4 320 GB 7200RPM SATA 3Gb/s 16MB Buffer';
  assert.equal(
    productAttributes(rate, [capacity(rate, '3Gb'), capacity(rate, '16MB'), capacity(rate, '320 GB')]).map((e) => e.text),
    ['320 GB'],
  );
  const other: Entity = { type: 'BRAND', text: 'Seagate', start: 0, end: 7, score: 1 };
  assert.equal(productAttributes(rate, [other]), [other], 'other types pass');
});

test("a kit's or an array's capacity is its total, not one module's or disk's (train and dev titles)", () => {
  const kit = 'Corsair TR3X6G1333C9 XMS3 6 GB 3 x 2 GB PC3-10666 1333MHz 240-Pin DDR3 Core i7 Memory Kit';
  const k = [capacity(kit, '2 GB', 1), capacity(kit, '6 GB', 0.99)];
  assert.equal(entitiesToFields(k).attributes, { capacity: { value: 2, unit: 'GB', text: '2 GB' } }, 'the best span alone');
  assert.equal(productAttributes(kit, k), [k[1]]);
  const nas = 'Iomega StorCenter ix4-200d 8TB 4 x 2TB Network Storage Cloud Edition - 35439';
  assert.equal(
    productAttributes(nas, [capacity(nas, '2TB'), capacity(nas, '8TB', 0.5)]).map((e) => e.text),
    ['8TB'],
  );
  const after = 'Crucial CT2KIT51272AF667 DDR2-667 1.8V 512Meg x 72 4GB X 2 8GB Kit';
  assert.equal(
    productAttributes(after, [capacity(after, '4GB'), capacity(after, '8GB', 0.5)]).map((e) => e.text),
    ['8GB'],
    'a count after the module',
  );
  // Left alone: one disk, a disc's speed, a module without a total.
  const server = 'Dell PowerEdge R710 - RAM 12 GB - SATA - hot-swap 3.5 - HDD 1 x 160 GB - MGA G200';
  assert.is(productAttributes(server, [capacity(server, '160 GB'), capacity(server, '12 GB', 0.5)]).length, 2);
  const disc = 'Taiyo Yuden JVC 8x 4.7GB DVD-R Silver Thermal in Cake Box 100 pack';
  assert.is(productAttributes(disc, [capacity(disc, '4.7GB')]).length, 1);
  const alone = 'Kingston 2 x 2GB DDR3 modules';
  assert.is(productAttributes(alone, [capacity(alone, '2GB')]).length, 1);
});

test("a quantity that is the product's brand is no attribute; the same text of another brand's product is", () => {
  const t = '3M Privacy Filter - 3M PF24.0W9 Widescreen Monitor Privacy Screen 16 9';
  const start = t.indexOf('3M', 1);
  const brand: Entity = { type: 'BRAND', text: '3M', start: 0, end: 2, score: 0.9 };
  const length: Entity = { type: 'LENGTH', text: '3M', start, end: start + 2, score: 0.8 };
  assert.equal(withoutBrandSpans([brand, length], '3M'), [brand]);
  const cable = 'Accell ProUltra Supreme B116C-010B-40 High Speed HDMI Cable with Ethernet 3m';
  const metres: Entity = { type: 'LENGTH', text: '3m', start: cable.length - 2, end: cable.length, score: 0.8 };
  const both = [metres];
  assert.is(withoutBrandSpans(both, 'Accell'), both, 'unchanged: the same list');
  assert.is(withoutBrandSpans(both, undefined), both);
});

test.run();
