/** Made-up brands for the taggers' brand-swapped training copies (training/fake-brand.ts). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fakeBrand, titleWords } from '../../training/fake-brand.js';
import { Prng } from '../../training/prng.js';

test('titleWords: distinct words of letters only, at least 3, capitalised, first seen first', () => {
  assert.equal(titleWords(['Koss EQ50 3-Band Stereo equalizer', 'KOSS Stereo Headphones by Koss']), ['Koss', 'Stereo', 'Equalizer', 'Headphones']);
});

test('fakeBrand: pseudo-words and title words, one or two, the same for the same seed', () => {
  const words = ['Heritage', 'Super', 'Black'];
  const draw = (seed: number): string[] => {
    const rng = new Prng(seed);
    return Array.from({ length: 400 }, () => fakeBrand(rng, words));
  };
  const names = draw(3);
  assert.equal(names, draw(3));
  const fromWords = names.filter((n) => n.split(' ').every((w) => words.includes(w)));
  const pseudo = names.filter((n) => !fromWords.includes(n));
  // About half of each; two-word names in both kinds.
  assert.ok(fromWords.length > 140 && fromWords.length < 260, `${fromWords.length} from title words`);
  assert.ok(fromWords.some((n) => n.includes(' ')) && pseudo.some((n) => n.includes(' ')));
  for (const n of pseudo) assert.match(n, /^[A-Za-z]+( [A-Za-z]+)?$/);
  // Pseudo-words are not the title words, and vary.
  assert.ok(new Set(pseudo).size > pseudo.length * 0.9);
  // With no title words, every name is a pseudo-name.
  const rng = new Prng(1);
  for (let i = 0; i < 20; i++) assert.not.ok(words.includes(fakeBrand(rng, [])));
});

test.run();
