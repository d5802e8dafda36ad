import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatReport } from '../../training/eval/report.js';
import { evalScores } from '../helpers/eval-scores.js';
import { fold, occursIn, scoreCategories, scoreExact, scoreGivenWithout } from '../../training/eval/metrics.js';

test('fold and occursIn compare letters and digits only, case-folded', () => {
  assert.is(fold('KTD-DM8400A/1G'), 'ktddm8400a1g');
  assert.ok(occursIn('KTD-DM8400A/1G', 'Dell KTD-DM8400A 1G memory'));
  assert.not.ok(occursIn('', 'anything'));
});

test('category accuracy, macro-F1 and the top confusion', () => {
  const s = scoreCategories([
    { truth: 'a', predicted: 'a' },
    { truth: 'a', predicted: 'b' },
    { truth: 'b', predicted: 'b' },
    { truth: 'b', predicted: 'b' },
  ]);
  assert.is(s.accuracy, 0.75);
  // a: P=1, R=.5, F1=2/3; b: P=2/3, R=1, F1=.8 → macro .7333
  assert.ok(Math.abs(s.macroF1 - (2 / 3 + 0.8) / 2) < 1e-9);
  assert.equal(s.confusions[0], { truth: 'a', predicted: 'b', count: 1 });
  assert.equal(s.predictedOutside, {});
});

test('predictions of a label no row has are counted apart: all wrong, in no per-label score', () => {
  const s = scoreCategories([
    { truth: 'a', predicted: 'a' },
    { truth: 'a', predicted: 'c' },
    { truth: 'b', predicted: 'c' },
    { truth: 'b', predicted: undefined },
  ]);
  assert.equal(Object.keys(s.perLabel), ['a', 'b']);
  assert.equal(s.predictedOutside, { c: 2, '(none)': 1 });
  const lines = formatReport(evalScores({ categories: s }));
  assert.ok(
    lines.includes('  predicted as a category no scored row has: c 2, (none) 1 (3 rows, all wrong; macro-F1 averages the 2 categories above)'),
    lines.join('\n'),
  );
});

test('exact match scores only rows whose value is in the title', () => {
  const m = scoreExact([
    { title: 'HP CE285A toner', truth: 'CE285A', predicted: 'ce285a' },
    { title: 'HP toner black', truth: 'CE285A', predicted: 'X' }, // value not in title: not scored
    { title: 'Sony MDR-7506', truth: 'MDR-7506', predicted: 'MDR' },
    { title: 'Canon PG-245', truth: 'PG-245' },
  ]);
  assert.equal(m, { n: 3, predicted: 2, correct: 1, precision: 0.5, recall: 1 / 3 });
});

test('a field given where the title lacks its true value: counted over rows with a value not in the title', () => {
  const g = scoreGivenWithout([
    { title: 'Lorex 4-Channel Security DVR', truth: 'LH324501', predicted: '4-Channel' },
    { title: 'Kingston 8GB Flash Drive', truth: 'DT101G2/8GB' },
    { title: 'HP CE285A toner', truth: 'CE285A', predicted: 'CE285A' }, // value in title: not counted
    { title: 'USB cable', predicted: 'X1' }, // no true value: not counted
  ]);
  assert.equal(g, { n: 2, given: 1, share: 0.5 });
});

test.run();
