/** The eval report's model-number lines for titles without their labelled model number. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatReport } from '../../training/eval/report.js';
import { evalScores } from '../helpers/eval-scores.js';

const exact = { n: 0, predicted: 0, correct: 0, precision: 0, recall: 0 };
const scores = evalScores;

test('a share of titles given a model number they do not carry; a dash when no title had one to lack', () => {
  const none = formatReport(scores({}));
  assert.ok(
    none.includes('mpn given on titles without their labelled one (n=0): - (another code of the title, often the model name, or a word taken for one)'),
    none.join('\n'),
  );
  assert.not.ok(
    none.some((l) => l.includes('no-mpn slice')),
    'no line for a slice that was not run',
  );
  const some = formatReport(scores({ mpnElsewhere: { n: 4, given: 1, share: 0.25 }, mpnWithout: { n: 10, given: 2, share: 0.2 } }));
  assert.ok(
    some.includes('mpn given on titles without their labelled one (n=4): 0.250 (another code of the title, often the model name, or a word taken for one)'),
  );
  assert.ok(some.includes('mpn given on titles that lost theirs (no-mpn slice, n=10): 0.200 (another code or a word taken for one)'));
});

test('brands given on titles that lost theirs: a line only with the no-brand slice; a dash for a brand recall over no rows', () => {
  const none = formatReport(scores({}));
  assert.not.ok(none.some((l) => l.includes('no-brand slice')));
  const byslice = { name: 'no-brand', brand: exact, mpn: { ...exact, n: 3, recall: 1 }, brandUnchanged: exact, mpnUnchanged: { ...exact, n: 3, recall: 1 } };
  const some = formatReport(scores({ brandWithout: { n: 8, given: 2, share: 0.25 }, identifierSlices: [byslice] }));
  assert.ok(
    some.includes('brand given on titles that lost theirs (no-brand slice, n=8): 0.250 (a product line, a word or a code taken for one)'),
    some.join('\n'),
  );
  assert.ok(some.includes('  no-brand       brand - (n=0)  mpn 1.000 (1.000, n=3)'), some.join('\n'));
});

test('a slice or an identifier with no rows prints a dash, not 0.000 and "level"', () => {
  const lines = formatReport(scores({ slices: [{ name: 'no-mpn', n: 0, accuracy: 0, baseline: 0, unchanged: 0 }] }));
  assert.ok(lines.includes('  no-mpn             0  - (no rows)'), lines.join('\n'));
  assert.ok(lines.includes('mpn (value in title, n=0): -'), lines.join('\n'));
  assert.ok(lines.includes('brand (value in title, n=0): -'), lines.join('\n'));
  const some = formatReport(scores({ mpn: { n: 4, predicted: 4, correct: 3, precision: 0.75, recall: 0.75 } }));
  assert.ok(some.includes('mpn (value in title, n=4): exact-match recall 0.750, precision 0.750'), some.join('\n'));
});

test('pipeline vs baseline says by how many rows: two accuracies one row apart print alike, and a bare BELOW between them read as a mistake', () => {
  const n = 1245;
  const lines = formatReport(
    scores({
      categories: { n, accuracy: 1084 / n, macroF1: 0.9, perLabel: {}, confusions: [] },
      baseline: { accuracy: 1085 / n, alpha: 0.3, train: 'train.jsonl' },
      slices: [
        { name: 'lower-case', n: 20, accuracy: 10 / 20, baseline: 7 / 20, unchanged: 11 / 20 },
        { name: 'no-mpn', n: 3, accuracy: 1 / 3, baseline: 1 / 3, unchanged: 1 / 3 },
      ],
    }),
  );
  assert.ok(lines.includes('  all             1245  0.871  0.871  BELOW -1    0.871'), lines.join('\n'));
  assert.ok(lines.includes('  lower-case        20  0.500  0.350  above +3    0.550'), lines.join('\n'));
  assert.ok(lines.includes('  no-mpn             3  0.333  0.333  level       0.333'), lines.join('\n'));
});

test('a precision over no value given is a dash, not 0.000', () => {
  const lines = formatReport(scores({ brand: { n: 3, predicted: 0, correct: 0, precision: 0, recall: 0 } }));
  assert.ok(lines.includes('brand (value in title, n=3): exact-match recall 0.000, precision - (none given)'), lines.join('\n'));
});

test('attribute lines: one per attribute with value and text shares, the unlabelled share and the schema flags; none for scores without attributes', () => {
  assert.not.ok(formatReport(scores({})).some((l) => l.startsWith('attribute')));
  const lines = formatReport(
    scores({
      attributes: {
        kinds: [{ name: 'capacity', n: 4, valueRight: 3, textRight: 2 }],
        unlabelled: { n: 0, given: 0 },
        schema: { checked: 8, flagged: 2, flaggedWithSpan: 1 },
      },
    }),
  );
  assert.ok(lines.includes('  capacity       n=4  value 0.750  text 0.500'), lines.join('\n'));
  assert.ok(lines.includes('attribute given where the labeller finds none (n=0): -'));
  assert.ok(lines.includes('attribute schema: 8 records checked, 2 flagged missing a required attribute (0.250), 1 of them with a labelled span in the title'));
});


test('counts of one are singular: "1 record", "1 row ... is scored apart"; others plural', () => {
  const one = formatReport(
    scores({ records: 1, skipped: 1, duplicateIds: 1, unknownCategories: { rows: 1, categories: [{ category: 'toys', rows: 1, lines: [3], predicted: { audio: 1 } }] } }),
  ).join('\n');
  assert.match(one, /^eval: 1 record from in\.jsonl \(seed 7\), 1 row left out \(.*\), 1 row repeating an earlier row's id/);
  assert.match(one, /; 1 row with a category the classifier does not have is scored apart, below\)/);
  assert.match(one, /categories the classifier does not have \(1 row, scored apart/);
  assert.not.match(one, /\b1 (records|rows)\b/);
  const two = formatReport(scores({ skipped: 2 })).join('\n');
  assert.match(two, /^eval: 2 records from in\.jsonl \(seed 7\), 2 rows left out/);
});

test.run();
