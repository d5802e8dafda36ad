import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { normalizeWithOffsets } from '../../lib/models/bert-text.js';

/** The per-character reference (before the ASCII fast path): regexes for every character. */
function reference(input: string) {
  let text = '';
  const start: number[] = [];
  const end: number[] = [];
  let i = 0;
  for (const ch of input) {
    const from = i;
    i += ch.length;
    const cp = ch.codePointAt(0) ?? 0;
    const control = ch !== '\t' && ch !== '\n' && ch !== '\r' && /^(?:\p{Cc}|\p{Cf}|\p{Co}|\p{Cs})$/u.test(ch);
    if (cp === 0 || cp === 0xfffd || control) continue;
    let out: string;
    if (/^\s$/u.test(ch)) out = ' ';
    else if (ch.length === 1 && ((cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0xf900 && cp <= 0xfaff))) out = ` ${ch} `;
    else
      out = ch
        .toLowerCase()
        .normalize('NFD')
        .replace(/\p{Mn}/gu, '');
    text += out;
    for (let k = 0; k < out.length; k++) {
      start.push(from);
      end.push(i);
    }
  }
  return { text, start, end };
}

test('normalizeWithOffsets: the ASCII fast path gives what the per-character regexes give, offsets included', () => {
  const samples = [
    'Sony WH-1000XM4 Wireless Noise Cancelling Over-Ear Headphones, Black',
    'Tab\there\nnew\rline\u000bvt\u000cff \u0000nul \u0007bell \u007fdel',
    'Café Ünïcode — “quotes” 10′ 5″ ½ µF Ωmega İstanbul ß',
    '中文 title 3400㐀 emoji 📷 and \u200b zero-width \ufffd replacement \u00a0nbsp',
    'ALL CAPS @#$%^&*()_+{}|:"<>?~`-=[]\\;\',./ 0123456789',
  ];
  // Random strings over ASCII and a few non-ASCII characters.
  const alphabet = [...Array.from({ length: 128 }, (_, c) => String.fromCharCode(c)), 'é', 'Ä', '中', '\u00a0', '\u2028', '📷', '\u0301'];
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let n = 0; n < 300; n++) samples.push(Array.from({ length: Math.floor(rnd() * 40) }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join(''));
  for (const s of samples) assert.equal(normalizeWithOffsets(s), reference(s), JSON.stringify(s));
});

test.run();
