import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkGtin, findGtins, gtinCheckDigit } from '../stages/domain/gtin.js';
import { checkMpn } from '../stages/domain/mpn.js';

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

test.run();
