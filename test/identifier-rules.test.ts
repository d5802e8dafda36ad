/** Brand lexicon and model-number shape rules, on titles from the dev set. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { brandLexicon, findBrands, resolveBrand } from '../stages/domain/brands.js';
import { findMpnByShape, looksLikeMpn } from '../stages/domain/mpn-shape.js';
import { applyIdentifierRules } from '../stages/domain/identifier-rules.js';
import type { Entity } from '../lib/models/bio.js';

const lex = brandLexicon({ brands: { justmobile: 4, just: 1, macesecurity: 3, mace: 2, drimark: 5, solidtek: 2, sony: 40, apple: 30, once: 1 } }, 2);

const span = (text: string, piece: string) => {
  const start = text.indexOf(piece);
  return { start, end: start + piece.length, text: piece };
};

test('findBrands matches folded brands on word boundaries, longest first', () => {
  const t = 'Dri-Mark 3513B1 - Smart Money Pen';
  assert.equal(findBrands(lex, t), [{ start: 0, end: 8, text: 'Dri-Mark' }]);
  assert.equal(findBrands(lex, 'Sonya cable'), [], 'not inside a longer word');
  assert.equal(findBrands(lex, 'once upon'), [], 'brands under brandMinCount are left out');
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
});

test('applyIdentifierRules: fields changed by a rule say so', () => {
  const t = 'Just Mobile iPhone 4 Xtand Go Windshield Mount';
  const e: Entity = { type: 'BRAND', ...span(t, 'Just'), score: 0.9 };
  const fields: Record<string, unknown> = { brand: 'Just' };
  applyIdentifierRules({ lexicon: lex, mpnShape: true }, t, [e], fields);
  assert.equal(fields, { brand: 'Just Mobile', brandSource: 'lexicon' });
  const k = 'Koss KPH13 Over The Head Stereophone';
  const f2: Record<string, unknown> = {};
  applyIdentifierRules({ lexicon: null, mpnShape: true }, k, [{ type: 'BRAND', ...span(k, 'Koss'), score: 0.9 }], f2);
  assert.equal(f2, { mpn: 'KPH13', mpnSource: 'shape' });
});

test.run();
