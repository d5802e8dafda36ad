/**
 * Model numbers that are not the product's: a colour code or a protocol the tagger marked over a
 * code, a barcode's name, a number the title goes on to measure, a cable's length, how a drive is sold. Titles and
 * tagged spans from the data set's rows (ids cited), as the shipped taggers gave them.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { applyIdentifierRules } from '../../stages/domain/identifier-rules.js';
import { isColourCode, isSpecification, looksLikeMpn } from '../../stages/domain/mpn-shape.js';
import { codeOverImplausible } from '../../stages/domain/mpn-tagged.js';
import { oneCode, tidyMpn, withoutQuantityTail, withoutSaleWord } from '../../stages/domain/mpn-tidy.js';

const RULES = { lexicon: null, mpnShape: true, mpnTidy: true };

/** A tagged span of `piece` in `text`. */
const tagged = (text: string, type: string, piece: string, score: number) => {
  const start = text.indexOf(piece);
  return { type, start, end: start + piece.length, text: piece, score };
};

/** The rules' fields for `text` whose tagger marked `spans` ([type, piece, score]); the best of each type is the field, as in the extract stage. */
function run(text: string, spans: [string, string, number][]): Record<string, unknown> {
  const entities = spans.map(([type, piece, score]) => tagged(text, type, piece, score));
  const best = (type: string) => entities.filter((e) => e.type === type).sort((a, b) => b.score - a.score)[0]?.text;
  const fields: Record<string, unknown> = {};
  if (best('BRAND') !== undefined) fields.brand = best('BRAND');
  if (best('MPN') !== undefined) fields.mpn = best('MPN');
  applyIdentifierRules(RULES, text, entities, fields);
  return fields;
}

test('a colour code, a protocol or a bare digit the tagger marked gives way to the code it also marked (dev and train rows)', () => {
  // dev wa-amazon-14527: the tagger's spans and scores on the title.
  const canon = 'Canon CLI-226 BK C M Y with PP-201 50 Sheets Combo Pack 4546B007';
  assert.equal(
    run(canon, [
      ['BRAND', 'Canon', 0.98],
      ['MPN', 'BK', 0.65],
      ['MPN', '4546B007', 0.45],
      ['MPN', 'CLI', 0.26],
    ]),
    { brand: 'Canon', mpn: '4546B007', mpnSource: 'next-span' },
  );
  // dev wa-amazon-6553, dev wa-amazon-3217, train wa-amazon-10274.
  const spans = (best: string, other: string) => [
    { type: 'MPN', text: best, score: 0.6 },
    { type: 'MPN', text: other, score: 0.5 },
  ];
  assert.is(codeOverImplausible('BK', spans('BK', '4530B008')), '4530B008', 'Canon PGI-225 BK CLI-226 C M Y 4 Pack Value Pack 4530B008');
  assert.is(codeOverImplausible('SNMP', spans('SNMP', 'DWL-3200AP')), 'DWL-3200AP', 'D-Link DWL-3200AP Managed AP PoE AES SNMP 802.11g');
  assert.is(codeOverImplausible('4', spans('4', 'HD3004')), 'HD3004', 'Bell O HDMI 3000 Series HD3004 1080p …');
  assert.is(codeOverImplausible('Twelve Hundred', spans('Twelve Hundred', 'CP-850')), 'CP-850', 'dev wa-amazon-5353');
  // A plausible one stays; a non-code or a phrase is no better (train wa-amazon-19113: "Electronics XLDH229N").
  assert.is(codeOverImplausible('K72349US', spans('K72349US', 'M305')), null);
  assert.is(codeOverImplausible('Sharp', spans('Sharp', 'Electronics XLDH229N')), null);
  assert.is(codeOverImplausible('Mouse', spans('Mouse', '3.5mm')), null, 'a quantity is no code');
  assert.is(codeOverImplausible('BK', [{ type: 'MPN', text: 'BK', score: 0.6 }]), null, 'nothing else tagged');
});

test('a lone colour code is no model number: the shape rule looks for one (dev wa-amazon-14527, train wa-amazon-21067)', () => {
  const canon = 'Canon CLI-226 BK C M Y with PP-201 50 Sheets Combo Pack 4546B007';
  assert.equal(
    run(canon, [
      ['BRAND', 'Canon', 0.98],
      ['MPN', 'BK', 0.65],
    ]),
    { brand: 'Canon', mpn: 'CLI-226', mpnSource: 'shape' },
    'the tagger marked no other code',
  );
  const trolley = 'Trolley Case Lg Cmptmnt 15x7-1 2x13 Retracting Handle BK';
  assert.equal(run(trolley, [['MPN', 'BK', 0.5]]), {}, 'no code in the title: none');
  for (const colour of ['BK', 'BLK', 'PGBK', 'CMY', 'cmyk']) assert.ok(isColourCode(colour), colour);
  // Codes ending in a colour, and a model's letter, stay (train wa-amazon-542, wa-amazon-718, wa-amazon-4729).
  for (const code of ['CR6002A-BK', 'MP OTG400 BK', 'C', 'W']) assert.not.ok(isColourCode(code), code);
  assert.equal(run('Crosley CR6002A-BK Revolution Portable USB Turntable Black', [['MPN', 'CR6002A-BK', 0.9]]), { mpn: 'CR6002A-BK' });
});

test("a barcode's name is no model number (the eval's titles given a barcode so labelled: dev wa-amazon-21987, train wa-amazon-12592)", () => {
  for (const name of ['EAN-13', 'EAN13', 'GTIN-14', 'UPC-A', 'ISBN-13', 'EAN-8']) {
    assert.ok(isSpecification(name), name);
    assert.not.ok(looksLikeMpn(name), name);
  }
  assert.ok(looksLikeMpn('UPC-2'), 'Case Logic UPC-2 Mossy Oak Universal Pocket (train wa-amazon-4496)');
  const t = 'Case Logic GTIN-14: 20030796632189 UMA101 MP3 Armband Small - Gray';
  assert.equal(
    run(t, [
      ['BRAND', 'Case Logic', 0.9],
      ['MPN', 'GTIN-14', 0.6],
    ]),
    { brand: 'Case Logic', mpn: 'UMA101', mpnSource: 'shape' },
  );
  const stapler = 'Swingline EAN13: 4199156449330 Optima 40 Desktop Stapler Black Silver';
  assert.equal(
    run(stapler, [
      ['BRAND', 'Swingline', 0.9],
      ['MPN', 'EAN13', 0.6],
    ]),
    { brand: 'Swingline' },
  );
});

test('a span ending in a number the title goes on to measure is cut to its code (dev and train rows)', () => {
  // dev wa-amazon-7650, dev wa-amazon-16106, train wa-amazon-9738, wa-amazon-6034, wa-amazon-356, wa-amazon-7940.
  assert.is(withoutQuantityTail('TH1814 4', ' GB MP3 Player with Flipout USB and Display'), 'TH1814');
  assert.is(withoutQuantityTail('TS-A878 3', ' 1 2 Inch 2-Way Speakers'), 'TS-A878', '3½ inches');
  assert.is(withoutQuantityTail('TS-C130R 5', ' 1 4 REV Component Speaker Package'), 'TS-C130R');
  assert.is(withoutQuantityTail('QS-39 1', ' 4 Camera Screw Quick Shoe'), 'QS-39', '¼-inch screw');
  assert.is(withoutQuantityTail('Tc-20 1', ' 2in Black On White Labeling Tape'), 'Tc-20');
  assert.is(withoutQuantityTail('DPS-5000 1', ' Hour AA AAA Rechargeable Battery Kit'), 'DPS-5000');
  // Suffixes whose "/" or "#" the titles lost stay: dev wa-amazon-3053 "C9514FN#140", train
  // wa-amazon-10187 "PD9016/37", wa-amazon-9755 "HTS3565D/37".
  assert.is(withoutQuantityTail('C9514FN 140', ''), 'C9514FN 140');
  assert.is(withoutQuantityTail('PD9016 37', ' 9-inch Portable LCD Dual DVD player'), 'PD9016 37');
  assert.is(withoutQuantityTail('HTS3565D 37', ' 1000 Watt DVD 1080P HDMI Upconversion'), 'HTS3565D 37');
  assert.is(withoutQuantityTail('MX 370', ' GB'), 'MX 370', 'a first word that is no code: left alone');
  const t = 'RCA TH1814 4 GB MP3 Player with Flipout USB and Display';
  assert.equal(run(t, [['MPN', 'TH1814 4', 0.8]]), { mpn: 'TH1814', mpnSource: 'tidied' });
});

test("a span that runs on into a cable's length is cut to its code; a capacity stays (dev wa-amazon-1364, train wa-amazon-1242)", () => {
  assert.is(oneCode('P570-006 6ft'), 'P570-006');
  assert.is(oneCode('DKVM-CB3 10ft'), 'DKVM-CB3');
  assert.is(tidyMpn('P570-006 1.5m'), 'P570-006');
  assert.is(oneCode('KTD-DM8400A 1G'), 'KTD-DM8400A 1G', '"KTD-DM8400A/1G"');
  assert.is(oneCode('DT4000 16GB'), 'DT4000 16GB', '"DT4000/16GB"');
});

test('how a drive is sold, glued to its code, is cut (dev wa-amazon-15502; train wa-amazon-14311, wa-amazon-15505)', () => {
  assert.is(withoutSaleWord('ST9500325AS-Bare'), 'ST9500325AS', '… Internal NB Hard Drive ST9500325AS-Bare Drive');
  assert.is(withoutSaleWord('ST95005620AS-Bare'), 'ST95005620AS');
  assert.is(tidyMpn('ST3500641AS-RK-Retail'), 'ST3500641AS-RK');
  // A code that is no more than the word stays, and so do other suffixes (train "V7024-PINK-BOX").
  assert.is(withoutSaleWord('AB-Retail'), 'AB-Retail');
  assert.is(withoutSaleWord('V7024-PINK-BOX'), 'V7024-PINK-BOX');
});

test.run();
