import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkGtin, findGtins, gtinCheckDigit } from '../../stages/domain/gtin.js';
import { checkMpn } from '../../stages/domain/mpn.js';

// Published example codes: GS1's EAN-13 example, a UPC-A, an EAN-8, a GTIN-14.
const VALID: [string, string][] = [
  ['4006381333931', 'GTIN-13'],
  ['036000291452', 'GTIN-12'],
  ['96385074', 'GTIN-8'],
  ['10012345678902', 'GTIN-14'],
  ['0 36000 29145 2', 'GTIN-12'],
];

test('valid GTIN-8/12/13/14 pass with their type', () => {
  for (const [code, type] of VALID) assert.equal(checkGtin(code), { value: code.replace(/\s/g, ''), type, valid: true }, code);
});

test('a wrong check digit, wrong length or letters fail with the reason', () => {
  assert.is(checkGtin('4006381333932').reason, 'check_digit');
  assert.is(checkGtin('036000291453').reason, 'check_digit');
  assert.is(checkGtin('12345').reason, 'length');
  assert.is(checkGtin('40063813339A1').reason, 'non_digit');
  assert.is(gtinCheckDigit('400638133393'), 1);
});

test('barcodes are found in free text only with a valid check digit', () => {
  assert.equal(findGtins('Cable UPC 036000291452, lot 036000291453 and 4006381333931'), ['036000291452', '4006381333931']);
  assert.equal(findGtins('model 1234567890123456'), []);
});

test('MPNs normalise to letters and digits and need a digit', () => {
  assert.equal(checkMpn(' ktd-dm8400a/1g '), { value: 'ktd-dm8400a/1g', normalized: 'KTDDM8400A1G', plausible: true });
  assert.is(checkMpn('Comet').plausible, false);
});

test('an all-zero body is no GTIN (000000000000 and 0000000000000 had passed their check digit)', () => {
  for (const zeros of ['000000000000', '0000000000000', '00000000', '00000000000000']) assert.equal(checkGtin(zeros).reason, 'zero', zeros);
  assert.equal(findGtins('Sony MDR-7506 Professional Studio Headphones 000000000000'), []);
  assert.equal(findGtins('Sony MDR-7506 Professional Studio Headphones 0000000000000'), []);
  assert.is(checkGtin('075000000008').valid, true, 'zeros inside a code are fine');
});

test('codes printed in groups are found: a dashed UPC, an ISBN-13, a spaced EAN-13; never digit runs apart, nor a code glued to letters', () => {
  const title = 'Sony MDR-7506 Professional Studio Headphones';
  assert.equal(findGtins(`${title} 0-12345-67890-5`), ['012345678905']);
  assert.equal(findGtins(`${title} 978-0-306-40615-7`), ['9780306406157']);
  assert.equal(findGtins(`${title} 4 006381 333931`), ['4006381333931']);
  assert.equal(findGtins('Cable UPC 0 36000 29145 2 black'), ['036000291452']);
  assert.equal(findGtins(`${title} 0-12345-67890-6`), [], 'a wrong check digit');
  assert.equal(findGtins('C8727a Hp 27 Black Inkjet Cartridge for C8727a 8727a 8727an C8727 8727'), []);
  assert.equal(findGtins('Part KX-0-12345-67890-5'), [], 'glued to a code');
});

test('an EAN-8 only where labelled (any 8 digits could be one)', () => {
  assert.equal(findGtins('Sony MDR-7506 Professional Studio Headphones 96385074'), []);
  assert.equal(findGtins('Label tape EAN-8: 96385074 refill'), ['96385074']);
  assert.equal(findGtins('Label tape EAN: 9638 5074 refill'), ['96385074']);
  assert.equal(findGtins('Label tape EAN: 96385075 refill'), [], 'a wrong check digit');
});

test.run();
