/** Brand lexicon and model-number shape rules, on titles from the dev set. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { brandLexicon, brandPrefix, findBrands, resolveBrand } from '../../stages/domain/brands.js';
import { findMpnByShape, isSpecification, looksLikeMpn } from '../../stages/domain/mpn-shape.js';
import { applyIdentifierRules } from '../../stages/domain/identifier-rules.js';
import { codeOfDashed, oneCode, tidyMpn, withoutLeadingZeros } from '../../stages/domain/mpn-tidy.js';

const lex = brandLexicon({ brands: { justmobile: 4, just: 1, macesecurity: 3, mace: 2, drimark: 5, solidtek: 2, sony: 40, apple: 30, once: 1 } }, 2);

const span = (text: string, piece: string) => {
  const start = text.indexOf(piece);
  return { start, end: start + piece.length, text: piece };
};

/** The rules' fields for title `t` whose tagger found `brand` (and, if given, the model number `mpn`). */
const withTaggedBrand = (rules: Parameters<typeof applyIdentifierRules>[0], t: string, brand: string, mpn?: string): Record<string, unknown> => {
  const f: Record<string, unknown> = mpn === undefined ? { brand } : { brand, mpn };
  applyIdentifierRules(rules, t, [{ type: 'BRAND', ...span(t, brand), score: 0.9 }], f);
  return f;
};

test('findBrands matches folded brands on word boundaries, longest first', () => {
  const t = 'Dri-Mark 3513B1 - Smart Money Pen';
  assert.equal(findBrands(lex, t), [{ start: 0, end: 8, text: 'Dri-Mark' }]);
  assert.equal(findBrands(lex, 'Sonya cable'), [], 'not inside a longer word');
  assert.equal(findBrands(lex, 'once upon'), [], 'brands under brandMinCount are left out');
  assert.equal(findBrands(lex, 'JUST MOBILE Xtand, sony™ SONY'), [
    { start: 0, end: 11, text: 'JUST MOBILE' },
    { start: 19, end: 23, text: 'sony' },
    { start: 25, end: 29, text: 'SONY' },
  ]);
  assert.equal(findBrands(lex, 'mace'), [{ start: 0, end: 4, text: 'mace' }], 'a brand that ends the title');
  // A key that is not folded could never match a folded title; it is left out, not mis-indexed.
  const odd = brandLexicon({ brands: { 'Dri-Mark': 3, é: 2, pen: 2 } });
  assert.equal([...odd.counts.keys()], ['pen']);
  assert.equal(findBrands(odd, 'Dri-Mark pen'), [{ start: 9, end: 12, text: 'pen' }]);
});

test('resolveBrand completes a cut-short or letter-only tag, keeps an unknown brand, fills a missed one', () => {
  const a = 'Just Mobile iPhone 4 Xtand Go Windshield Mount';
  assert.is(resolveBrand(lex, a, span(a, 'Just'))?.text, 'Just Mobile');
  const b = 'Mace Security MAS-WA-SIR MaceAlert SOLO Extension Alarm';
  assert.is(resolveBrand(lex, b, span(b, 'Mace'))?.text, 'Mace Security');
  const c = 'Solidtek Mini Keyboard with built- In Trackball';
  assert.is(resolveBrand(lex, c, { start: 5, end: 6, text: 'e' })?.text, 'Solidtek');
  const d = 'Zorbix X10 Case for Apple iPad';
  assert.is(resolveBrand(lex, d, span(d, 'Zorbix'))?.text, 'Zorbix', 'an unseen brand the tagger found stands');
  assert.is(resolveBrand(lex, 'Sony MDR-7506 Headphones', null)?.text, 'Sony');
  assert.is(resolveBrand(lex, 'Leather Case Sleeve Cover for Apple iPad', null), null, 'only within the first words');
});

test('a missed brand fills in from the first two words only: further in, a lexicon brand is mostly an ordinary word (train and dev titles)', () => {
  const words = brandLexicon({ brands: { digital: 3, universal: 27, sony: 40 } }, 2);
  assert.is(resolveBrand(words, 'EX-Z550 14.1MP Digital Camera with 4x Wide Angle Zoom', null), null);
  assert.is(resolveBrand(words, 'SIRIUS SADV2 Universal Dock-and-Play Vehicle Kit', null), null);
  assert.is(resolveBrand(words, 'New Sony MDR-7506 Headphones', null)?.text, 'Sony');
  assert.is(resolveBrand(words, 'Sony MDR-7506 Headphones', null)?.text, 'Sony');
  // A barcode before the name is not one of its words.
  assert.is(resolveBrand(words, 'EAN13: 5032975471023 Sony MDR-7506 Headphones', null)?.text, 'Sony');
  assert.is(resolveBrand(words, '(UPC 012345678905) New Sony MDR-7506 Headphones', null)?.text, 'Sony');
});

test('a known brand that begins the first word is the brand when nothing else is (Fujifilm → Fuji, train and dev titles)', () => {
  const known = brandLexicon({ brands: { fuji: 45, apple: 67, hp: 439, balt: 3, sony: 401 } }, 2);
  assert.is(brandPrefix(known, 'Fujifilm FinePix S2550 12.2 MP Digital Camera')?.text, 'Fuji');
  assert.is(brandPrefix(known, '  AppleCare Protection Plan')?.text, 'Apple');
  assert.is(brandPrefix(known, 'HPX Cable'), null, 'a short brand: a first word begins with one by chance');
  assert.is(brandPrefix(known, 'Baltimore Ravens Pro Grip Mouse'), null, 'a rare brand');
  assert.is(brandPrefix(known, 'Fuji FinePix'), null, 'a whole word is no prefix (findBrands has it)');
  assert.is(brandPrefix(known, 'Digital Camera by Fujifilm'), null, 'only the first word');
  const t = 'Fujifilm FinePix S2550 12.2 MP Digital Camera';
  assert.equal(resolveBrand(known, t, null), { start: 0, end: 4, text: 'Fuji' });
  assert.is(resolveBrand(known, 'Sony Fujifilm adapter', null)?.text, 'Sony', 'a whole-word brand comes first');
  assert.is(resolveBrand(known, t, span(t, 'FinePix'))?.text, 'FinePix', "the tagger's brand stands");
});

test('model-number shape: letters with digits, 4-6 digit numbers; not quantities, years or barcodes', () => {
  for (const w of ['KPH13', 'DS-600', 'E71', 'CF-7006-SK', '64032', 'ESATAPLATE1']) assert.ok(looksLikeMpn(w), w);
  for (const w of ['16GB', '3.5mm', '1080p', '10ft', '2010', '012345678905', '4x6', '55-Inch', '2x', 'USB']) assert.not.ok(looksLikeMpn(w), w);
  const t = 'Koss KPH13 Over The Head Stereophone';
  assert.equal(findMpnByShape(t, 4), { start: 5, end: 10, text: 'KPH13' });
  assert.equal(findMpnByShape('Brother DSMobile Portable Scanner DS-600', 7)?.text, 'DS-600', 'else the last word');
  assert.is(
    findMpnByShape('Brother DSMobile Portable Scanner DS-600', 7, { digitsOnly: [4, 6], maxWordsAfterBrand: 3, lastWord: false }),
    null,
    'only the first 3 words after the brand',
  );
  assert.is(findMpnByShape('Belkin Pure AV Silver Series HDMI cable 8 ft', 6), null);
  // A number the next word makes a quantity or a product line is not a model number (titles from the data).
  assert.is(findMpnByShape('3000 Lumens XGA DLP Projector', null), null);
  assert.is(findMpnByShape('HP LaserJet 4250 Series Toner', 2)?.text, undefined);
  assert.is(findMpnByShape('Avery 5160 Address Labels', 5)?.text, '5160', 'a number before another word still is one');
});

test('a listing\'s "New-" is not part of the brand; "New Trent" is a brand (train and dev titles)', () => {
  const rules = { lexicon: brandLexicon({ brands: { domtar: 3, newtrent: 2 } }, 2), mpnShape: false, mpnTidy: false };
  const a = 'New-Domtar 2468 - Copy Paper 8-1 2 x 11';
  const fa = withTaggedBrand(rules, a, 'New-Domtar');
  assert.equal(fa, { brand: 'Domtar', brandSource: 'tidied' });
  const b = 'New-Marks-A-Lot Permanent Marker';
  const fb = withTaggedBrand(rules, b, 'New-Marks-A-Lot');
  assert.is(fb.brand, 'Marks-A-Lot', 'an unknown brand too');
  const c = 'New Trent Arcadia 12000mAh External Battery';
  const fc = withTaggedBrand(rules, c, 'New Trent');
  assert.equal(fc, { brand: 'New Trent' });
});

test('applyIdentifierRules: fields changed by a rule say so', () => {
  const t = 'Just Mobile iPhone 4 Xtand Go Windshield Mount';
  const fields = withTaggedBrand({ lexicon: lex, mpnShape: true, mpnTidy: true }, t, 'Just');
  assert.equal(fields, { brand: 'Just Mobile', brandSource: 'lexicon' });
  const k = 'Koss KPH13 Over The Head Stereophone';
  const f2: Record<string, unknown> = {};
  applyIdentifierRules({ lexicon: null, mpnShape: true, mpnTidy: true }, k, [{ type: 'BRAND', ...span(k, 'Koss'), score: 0.9 }], f2);
  assert.equal(f2, { mpn: 'KPH13', mpnSource: 'shape' });
});

test('mpn tidy: a span that runs on into a word, a count or itself is cut to its code; suffixes stay', () => {
  // Tagger spans on dev titles and the labels of those rows.
  assert.is(oneCode('ACP-WTA World'), 'ACP-WTA World', 'a first word without digits is not surely a code');
  assert.is(oneCode('BP-BG1 Replacement'), 'BP-BG1');
  assert.is(oneCode('HT10DBS 10-Outlet'), 'HT10DBS');
  assert.is(oneCode('T104 208-277-Volt'), 'T104');
  assert.is(oneCode('DT-210 DT-210'), 'DT-210');
  assert.is(oneCode('T654X11A - T654X11A'), 'T654X11A');
  assert.is(oneCode('SAT2510U2 - Silver'), 'SAT2510U2');
  assert.is(oneCode('KTD-DM8400A 1G'), 'KTD-DM8400A 1G', 'the data lost the slash of "KTD-DM8400A/1G"');
  assert.is(oneCode('CH393A B1H'), 'CH393A B1H');
  assert.is(oneCode('DXG-535VP HD'), 'DXG-535VP HD');
  assert.is(oneCode('MX 370'), 'MX 370', 'a first word that is no model number: left alone');
  assert.is(oneCode('Video Spectra 1.5'), 'Video Spectra 1.5');
  assert.is(oneCode('KPH13'), 'KPH13');
});

test('mpn tidy: all-digit numbers lose leading zeros, nothing else does', () => {
  assert.is(withoutLeadingZeros('05146'), '5146');
  assert.is(withoutLeadingZeros('0528003909'), '528003909');
  assert.is(withoutLeadingZeros('0012'), '0012', 'keeps at least 3 digits');
  assert.is(withoutLeadingZeros('07103A'), '07103A');
  assert.is(withoutLeadingZeros('17301'), '17301');
  assert.is(tidyMpn('03182 - Cable'), '3182');
});

test('applyIdentifierRules: a tidied model number says so; mpnTidy false leaves the span', () => {
  const t = 'Digipower BP-BG1 Replacement Li-Ion Battery for Sony NP-BG1';
  const f: Record<string, unknown> = { mpn: 'BP-BG1 Replacement' };
  applyIdentifierRules({ lexicon: null, mpnShape: true, mpnTidy: true }, t, [], f);
  assert.equal(f, { mpn: 'BP-BG1', mpnSource: 'tidied' });
  const g: Record<string, unknown> = { mpn: 'BP-BG1 Replacement' };
  applyIdentifierRules({ lexicon: null, mpnShape: true, mpnTidy: false }, t, [], g);
  assert.equal(g, { mpn: 'BP-BG1 Replacement' });
  const z = 'PC Treasures ClickIt Classic Mouse - Navy 07669';
  const h: Record<string, unknown> = {};
  applyIdentifierRules({ lexicon: null, mpnShape: true, mpnTidy: true }, z, [], h);
  assert.equal(h, { mpn: '7669', mpnSource: 'shape' }, 'a number found by shape is tidied too');
});

test('applyIdentifierRules: a quantity is no brand unless the lexicon knows it; a range is no model number (dev titles)', () => {
  const rules = { lexicon: brandLexicon({ brands: { '3m': 40, nikon: 30 } }, 2), mpnShape: true, mpnTidy: true };
  const a = '10FT High Speed HDMI Cable with Ethernet Video Output Cable for HTC EVO 4G Phone';
  const fa = withTaggedBrand(rules, a, '10FT');
  assert.equal(fa, {}, 'a length is not a brand');
  const b = '3M Privacy Filter for 15.4 Widescreen Laptop PF15.4W';
  const fb = withTaggedBrand(rules, b, '3M', 'PF15.4W');
  assert.equal(fb, { brand: '3M', mpn: 'PF15.4W' }, 'a lexicon brand shaped like a quantity stands');
  const c = 'Nikon 18-55mm f 3.5-5.6G AF-S DX VR Nikkor Zoom Lens';
  const fc = withTaggedBrand(rules, c, 'Nikon', '18-55mm');
  assert.equal(fc, { brand: 'Nikon' }, 'neither the focal range nor the aperture is a model number');
  for (const code of ['3700-09M', '6673-10W', '172-94X']) assert.ok(looksLikeMpn(code), `${code} is a code`);
  for (const spec of ['18-55mm', '70-300MM', '3.5-5.6G', '2-4GB']) assert.not.ok(looksLikeMpn(spec), `${spec} is a specification`);
});

test('a span over a spaced dash keeps its longest code; a dimension is no model number (dev titles)', () => {
  assert.is(codeOfDashed('40009 - 1.5ft'), '40009', 'Cables To Go - 40009 - 1.5ft Velocity Component Video Cable');
  assert.is(codeOfDashed('FW800 - DRDR4A21'), 'DRDR4A21', 'Drobo S … eSATA FW800 - DRDR4A21 Black');
  assert.is(codeOfDashed('Cooler - RR-CCH-P912-GP'), 'RR-CCH-P912-GP');
  assert.is(codeOfDashed('130x - SD'), '130x - SD', 'no part is a code: left alone');
  assert.is(codeOfDashed('KTD-DM8400A 1G'), 'KTD-DM8400A 1G', 'no spaced dash: left alone');
  assert.is(tidyMpn('40009 - 1.5ft'), '40009');
  for (const spec of ['60x60MM', '24inX100ft', '1600x1200', '72X96', '70INX70IN']) assert.not.ok(looksLikeMpn(spec), `${spec} is a dimension`);
  for (const code of ['T654X11A', '4X7PIN']) assert.ok(looksLikeMpn(code), `${code} is a code`);
  const rules = { lexicon: brandLexicon({ brands: { meade: 12 } }, 2), mpnShape: true, mpnTidy: true };
  const t = 'Meade 81011 Travel View 20 - 60x60MM Zoom Spotting Scope';
  const f = withTaggedBrand(rules, t, 'Meade', '60x60MM');
  assert.equal(f, { brand: 'Meade', mpn: '81011', mpnSource: 'shape' }, 'the shape rule finds the real one');
});

test('a standard or a counted feature is no model number; codes with capitals stay (train and dev titles)', () => {
  for (const spec of ['802.11n', 'H.264', 'MP3', 'MPEG4', 'DDR2', 'CAT5e', 'Cat-6', 'RG-59U', 'FW800', 'USB2.0', 'RJ45M', '1394'])
    assert.not.ok(looksLikeMpn(spec), `${spec} is a standard`);
  for (const spec of ['4-Channel', '80-Minute', '3-Way', '12-Button', '8CH', '7.1CH', '2x1GB', '8x-12x'])
    assert.not.ok(looksLikeMpn(spec), `${spec} is a count`);
  for (const code of ['4734-EPCP', '90309-BLK', '620-PISTOLGRPQR', '4734-epcp', 'PC501', 'MP305-2GBLK', 'H530', 'CAT5E-25'])
    assert.ok(looksLikeMpn(code), `${code} is a code`);
  const rules = { lexicon: brandLexicon({ brands: { duracell: 40 } }, 2), mpnShape: true, mpnTidy: true };
  const t = 'Duracell NiMH Multi-Format 7-Hour Camcorder Battery DR11AA';
  const f = withTaggedBrand(rules, t, 'Duracell', '7-Hour');
  assert.equal(f, { brand: 'Duracell', mpn: 'DR11AA', mpnSource: 'shape' }, 'the shape rule finds the real one');
});

test('a plain word is no model number unless it names the model right after the brand in a title without a code (train and dev titles)', () => {
  const rules = { lexicon: brandLexicon({ brands: { jvc: 40, samsung: 40, antec: 20, hp: 40 } }, 2), mpnShape: true, mpnTidy: true };
  const run = (t: string, brand: string, mpn: string) => withTaggedBrand(rules, t, brand, mpn);
  // A product line after the brand, with the code later in the title: the shape rule finds the code.
  assert.equal(run('JVC Everio GZ-MG20 20 GB Hard Disk Drive Camcorder', 'JVC', 'Everio'), { brand: 'JVC', mpn: 'GZ-MG20', mpnSource: 'shape' });
  // A word elsewhere in the title ("Argento", "Unisex", "s" of "15mb s") is not one.
  assert.equal(run('HP Wireless Laser Mobile Mouse - Argento Blush', 'HP', 'Argento'), { brand: 'HP' });
  // The model's name right after the brand, no code in the title: kept ("Samsung Replenish", "Samsung Trender").
  assert.equal(run('Samsung Replenish Android Phone Black Sprint', 'Samsung', 'Replenish'), { brand: 'Samsung', mpn: 'Replenish' });
  // Codes without digits keep their capitals and stay anywhere.
  assert.equal(run('Antec Case Cooler ICUSBAUDIO', 'Antec', 'ICUSBAUDIO'), { brand: 'Antec', mpn: 'ICUSBAUDIO' });
  assert.equal(run('Antec Case Cooler eXplorist', 'Antec', 'eXplorist'), { brand: 'Antec', mpn: 'eXplorist' });
});

test('a rating, an N-in-1 bundle, model years, a counted thing, IEEE1284 or 100TX is no model number; codes like them stay (train and dev titles)', () => {
  for (const spec of [
    '5dBi',
    '9DBI',
    '1000VA',
    '1kVA',
    '800mA',
    '4100MHz',
    '2.4GHz',
    '3-in-1',
    '11-in-1',
    '3n1',
    'All-in-1',
    '7-in-One',
    '4-channel',
    '2-bay',
    '51-inch',
    '1998-Up',
    '2000-2003',
    'IEEE1284',
    'IEEE-1284',
    '100TX',
    '2.4x-6x',
  ])
    assert.ok(isSpecification(spec), `${spec} is a specification`);
  for (const code of ['410G', '2511x', '92298X', '1770W', '2000-210US', 'HD5770', 'CLI-226', '4734-EPCP', '4734-epcp', '620-EBOX'])
    assert.not.ok(isSpecification(code), `${code} is a code`);
  const rules = { lexicon: brandLexicon({ brands: { cyberpower: 10 } }, 2), mpnShape: true, mpnTidy: true };
  const t = 'CyberPower UPS 1500VA 900W PFC Compatible Pure Sine Wave';
  const f = withTaggedBrand(rules, t, 'CyberPower', '1500VA');
  assert.equal(f, { brand: 'CyberPower' }, 'a tagged rating is dropped');
});

test("a tagged brand with a model number's shape is no brand unless the lexicon knows it; the shape rule may take it as the model number", () => {
  const rules = { lexicon: brandLexicon({ brands: { v7: 60, iriscan: 3 } }, 2), mpnShape: true, mpnTidy: true };
  const run = (t: string, brand: string) => withTaggedBrand(rules, t, brand);
  assert.equal(run('V470 Bluetooth Cordless Laser Mouse for Notebooks White', 'V470'), { mpn: 'V470', mpnSource: 'shape' });
  assert.equal(run('25NW 40-Channel CB Radio', '25NW'), { mpn: '25NW', mpnSource: 'shape' });
  // The lexicon's brands stand ("V7"), and a brand the lexicon finds still fills in.
  assert.equal(run('V7 Black Toner Cartridge for HP LaserJet', 'V7'), { brand: 'V7' });
  assert.equal(run('USOA447 IRIScan Express 2 Portable Scanner', 'USOA447'), { brand: 'IRIScan', brandSource: 'lexicon', mpn: 'USOA447', mpnSource: 'shape' });
});

test("a brand glued to the rest of a code loses the code's head; a code before the brand is the model number when none follows it (train and dev titles)", () => {
  const rules = { lexicon: brandLexicon({ brands: { garmin: 60, dlink: 40 } }, 2), mpnShape: true, mpnTidy: true };
  const run = (t: string, brand: string) => withTaggedBrand(rules, t, brand);
  assert.equal(run('DIR-655 Extreme N Gigabit Wireless Router', 'DIR'), { mpn: 'DIR-655', mpnSource: 'shape' });
  assert.equal(run('Ultrasone HFI-780 S-Logic Surround Sound Professional Headphones', 'Ultrasone HFI'), {
    brand: 'Ultrasone',
    brandSource: 'tidied',
    mpn: 'HFI-780',
    mpnSource: 'shape',
  });
  // A known brand glued to a code stays ("D-Link" is one word of the lexicon).
  assert.equal(run('D-Link DIR-655 Extreme N Gigabit Wireless Router', 'D-Link'), { brand: 'D-Link', mpn: 'DIR-655', mpnSource: 'shape' });
  assert.equal(run('GN042 Garmin Nuvi 8.5-Inch Windshield Suction Gooseneck Mount', 'Garmin'), { brand: 'Garmin', mpn: 'GN042', mpnSource: 'shape' });
  assert.equal(findMpnByShape('Garmin Nuvi 8.5-Inch Windshield Suction Mount', 6), null, 'nothing before the brand, nothing after it');
});

test.run();
