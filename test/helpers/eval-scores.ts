import type { EvalScores } from '../../training/eval/report.js';

const exact = { n: 0, predicted: 0, correct: 0, precision: 0, recall: 0 };

/** An eval report's scores for two records, every figure neutral, with `over` in place: what formatReport tests vary. */
export const evalScores = (over: Partial<EvalScores>): EvalScores => ({
  input: 'in.jsonl',
  seed: '7',
  records: 2,
  sent: 2,
  seconds: 1,
  where: { stored: 2, review: 0, dlq: 0, missing: 0 },
  categories: { n: 2, accuracy: 1, macroF1: 1, perLabel: {}, confusions: [] },
  baseline: { accuracy: 0.5, alpha: 0.3, train: 'train.jsonl' },
  slices: [],
  calibration: { ece: 0, bins: 15, meanConfidence: 1, routing: [], table: [] },
  fine: null,
  identifierSlices: [],
  brand: exact,
  mpn: exact,
  mpnWithout: null,
  brandWithout: null,
  mpnElsewhere: { n: 0, given: 0, share: 0 },
  gtin: { n: 0, found: 0, invalidN: 0, invalidAccepted: 0 },
  ...over,
});
