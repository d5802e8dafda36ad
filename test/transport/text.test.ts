import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readLines } from '../../lib/producer/jsonl.js';
import { cleanText } from '../../stages/domain/text.js';

test('cleanText: NFKC, HTML, entities, control characters, whitespace', () => {
  assert.is(cleanText('  <b>Sony</b>&nbsp;WH&#8209;1000XM4\u0007\t\n ＨＤＭＩ  cable&amp;co '), 'Sony WH-1000XM4 HDMI cable&co');
  assert.is(cleanText('ﬁve ½ inch'), 'five 1⁄2 inch');
  assert.is(cleanText('zero\u200Bwidth'), 'zerowidth');
});

test('readLines splits across chunks, measures oversized lines without keeping them, handles CRLF and no final newline', async () => {
  const input = Readable.from([Buffer.from('ab\r\ncd'), Buffer.from('ef\n' + 'x'.repeat(50) + '\n'), Buffer.from('last')]);
  const lines = [];
  for await (const l of readLines(input, 10)) lines.push({ n: l.lineNo, s: l.bytes?.toString(), size: l.size });
  assert.equal(lines, [
    { n: 1, s: 'ab', size: 2 },
    { n: 2, s: 'cdef', size: 4 },
    { n: 3, s: undefined, size: 50 },
    { n: 4, s: 'last', size: 4 },
  ]);
});

test("a CRLF line of exactly the limit is kept (its CR is not the record's); one byte more is oversized, with or without CR", async () => {
  const ten = '0123456789';
  const input = Readable.from([Buffer.from(`${ten}\r\n${ten}x\r\n${ten}x\n${ten}\r`)]);
  const lines = [];
  for await (const l of readLines(input, 10)) lines.push({ n: l.lineNo, s: l.bytes?.toString(), size: l.size });
  assert.equal(lines, [
    { n: 1, s: ten, size: 10 },
    { n: 2, s: undefined, size: 11 },
    { n: 3, s: undefined, size: 11 },
    { n: 4, s: ten, size: 10 },
  ]);
});

test.run();
