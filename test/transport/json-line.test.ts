/** Where a line's bytes stop being UTF-8 (lib/core/json-line.ts), as the API's 400 names it. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { firstNonUtf8Byte } from '../../lib/core/json-line.js';

const at = (...bytes: number[]) => firstNonUtf8Byte(Uint8Array.from(bytes));

test('UTF-8 throughout, a real U+FFFD included: -1', () => {
  assert.is(firstNonUtf8Byte(Buffer.from('café ✓ \uFFFD', 'utf8')), -1);
  assert.is(at(), -1);
});

test('a lone byte that starts no sequence (Latin-1 "é") is named where it is', () => {
  assert.is(at(0x63, 0x61, 0x66, 0xe9), 3);
  assert.is(at(0xff, 0x41), 0);
});

test('a sequence cut short is named at its first byte, not where it reads differently from U+FFFD', () => {
  assert.is(at(0x61, 0xef, 0x41), 1, 'EF then ASCII');
  assert.is(at(0x61, 0xef, 0xbf, 0x41), 1, 'EF BF then ASCII');
  assert.is(at(0x61, 0xe2, 0x9c), 1, 'a three-byte sequence cut at the end');
});

test('after a real U+FFFD, the bad byte that follows it is named, not the U+FFFD', () => {
  assert.is(at(0x61, 0xef, 0xbf, 0xbd, 0xef, 0x41), 4);
  assert.is(at(0x61, 0xef, 0xbf, 0xbd, 0xe9), 4);
});

test.run();
