import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { expectedCalibrationError, routingThresholds, thresholdTable } from '../../training/eval/calibration.js';
import { loadLabelled, type LabelledRow } from '../../training/eval/dataset.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { NaiveBayes, features } from '../../training/eval/naive-bayes.js';
import { parseSliceNames, planSlices, scoreSlice } from '../../training/eval/slice-runs.js';
import { brandLast, firstWords, makeSlices, removeValue } from '../../training/eval/slices.js';
import { BIN } from '../helpers/bin.js';

test('naive Bayes features are lower-cased word unigrams and bigrams', () => {
  assert.equal(features('HP 61-XL Ink', true), ['hp', '61', 'xl', 'ink', 'hp 61', '61 xl', 'xl ink']);
  assert.equal(features('HP 61', false), ['hp', '61']);
});

test('naive Bayes learns word-category evidence and gives a posterior', () => {
  const nb = NaiveBayes.train([
    { title: 'black ink cartridge', category: 'printers_ink' },
    { title: 'color ink cartridge', category: 'printers_ink' },
    { title: 'usb flash drive 16GB', category: 'storage' },
    { title: 'external hard drive', category: 'storage' },
  ]);
  const p = nb.predict('Canon ink cartridge');
  assert.is(p.label, 'printers_ink');
  assert.ok(p.probability > 0.5 && p.probability <= 1);
  assert.is(nb.predict('portable hard drive').label, 'storage');
  const post = nb.posterior('anything');
  assert.ok(Math.abs(post.reduce((s, v) => s + v, 0) - 1) < 1e-9);
});

test('removeValue cuts a model number on letter/digit boundaries with its dangling punctuation', () => {
  assert.is(removeValue('Kingston KTD-DM8400A 1G Memory', 'KTD-DM8400A/1G'), 'Kingston Memory');
  assert.is(removeValue('HP 85A Toner (CE285A)', 'CE285A'), 'HP 85A Toner');
  assert.is(removeValue('Sony HPC100 Case', 'HP'), null); // not inside a longer run
  assert.is(removeValue('Case - 1234 - Black', '1234'), 'Case Black');
  assert.is(removeValue('no value here', ''), null);
});

test('firstWords keeps the first n whitespace words', () => {
  assert.is(firstWords('a b  c d', 3), 'a b c');
  assert.is(firstWords('short', 8), 'short');
});

test('brandLast moves a leading brand (as written) to the end, only when the title starts with it as a word', () => {
  assert.is(brandLast('Koss EQ50 3-Band Stereo Equalizer', 'koss'), 'EQ50 3-Band Stereo Equalizer - Koss');
  assert.is(brandLast('Case Logic - Laptop Sleeve', 'Case Logic', ' by '), 'Laptop Sleeve by Case Logic');
  assert.is(brandLast('Sonyx Headphones', 'Sony'), null); // not a whole word
  assert.is(brandLast('Headphones by Sony', 'Sony'), null);
  assert.is(brandLast('Sony', 'Sony'), null); // nothing else in the title
  assert.is(brandLast('Sony Walkman', ''), null);
});

test('makeSlices: unseen brands, model number removed, brand removed, brand last, first 8 words, lower-case', () => {
  const rows = [
    { id: '1', title: 'Acme X100 Widget Case', category: 'cases', brand: 'Acme', mpn: 'X100' },
    { id: '2', title: 'Known One Two Three Four Five Six Seven Eight Nine', category: 'x', brand: 'Known' },
  ];
  const s = Object.fromEntries(makeSlices(rows, new Set(['known'])).map((x) => [x.name, x.members]));
  assert.equal(s['unseen-brand'], [{ id: '1', title: 'Acme X100 Widget Case' }]);
  assert.equal(s['no-mpn'], [{ id: '1', title: 'Acme Widget Case' }]);
  assert.equal(s['no-brand'], [
    { id: '1', title: 'X100 Widget Case' },
    { id: '2', title: 'One Two Three Four Five Six Seven Eight Nine' },
  ]);
  assert.equal(s['brand-last'], [
    { id: '1', title: 'X100 Widget Case - Acme' },
    { id: '2', title: 'One Two Three Four Five Six Seven Eight Nine - Known' },
  ]);
  assert.is(s['first-8-words']![1]!.title, 'Known One Two Three Four Five Six Seven');
  assert.is(s['lower-case']![0]!.title, 'acme x100 widget case');
});

const row = (id: string, title: string, category: string, extra: Partial<LabelledRow> = {}): LabelledRow => ({
  id,
  title,
  sourceTitle: title,
  category,
  ...extra,
});

test('planSlices sends only changed titles, as <id>~<slice>, and scores them against the baseline', () => {
  const rows = [row('a', 'Acme X1 ink', 'ink', { mpn: 'X1', brand: 'Acme' }), row('b', 'plain title', 'ink', { brand: 'Known' })];
  const { slices, extra } = planSlices(rows, new Set(['known']), ['no-mpn', 'lower-case']);
  assert.equal(extra, [
    { id: 'a~no-mpn', title: 'Acme ink' },
    { id: 'a~lower-case', title: 'acme x1 ink' },
  ]);
  const lower = slices.find((s) => s.name === 'lower-case')!;
  assert.equal(
    lower.members.map((m) => m.recordId),
    ['a~lower-case', 'b'],
  );
  const predicted = new Map([
    ['a', 'ink'],
    ['b', 'ink'],
    ['a~lower-case', 'other'],
  ]);
  const score = scoreSlice(
    'lower-case',
    lower.members,
    (id) => predicted.get(id),
    () => 'ink',
  );
  assert.equal(score, { name: 'lower-case', n: 2, accuracy: 0.5, baseline: 1, unchanged: 1 });
});

test("a row's own id spelt like another row's variant (x~lower-case) keeps its own record: the variant gets another id", () => {
  const rows = [row('x', 'Acme X1 Ink', 'ink'), row('x~lower-case', 'Other Title', 'ink')];
  const { slices, extra } = planSlices(rows, new Set(), ['lower-case']);
  assert.equal(
    extra.map((e) => e.id),
    ['x~lower-case~', 'x~lower-case~lower-case'],
  );
  assert.equal(
    slices[0]!.members.map((m) => m.recordId),
    ['x~lower-case~', 'x~lower-case~lower-case'],
  );
  const ids = [...rows.map((r) => r.id), ...extra.map((e) => e.id)];
  assert.is(new Set(ids).size, ids.length, 'every record id once');
});

test('parseSliceNames accepts all, none and lists, and rejects unknown names', () => {
  assert.is(parseSliceNames('all').length, 6);
  assert.equal(parseSliceNames('none'), []);
  assert.equal(parseSliceNames('no-mpn,lower-case'), ['no-mpn', 'lower-case']);
  assert.throws(() => parseSliceNames('nope'), /unknown slice nope/);
});

test('parseSliceNames: all or none inside a list is refused as standing alone, not as an unknown slice', () => {
  for (const v of ['none,lower-case', 'no-mpn,all'])
    assert.throws(
      () => parseSliceNames(v),
      (err: Error) => /(all|none) stands alone, not in a list/.test(err.message) && !/unknown slice/.test(err.message),
      v,
    );
});

test('parseSliceNames: an empty value, or an empty name in a list, is refused naming the option and what it takes', () => {
  for (const v of ['', '  ', ',', 'none,', 'no-mpn,,lower-case'])
    assert.throws(
      () => parseSliceNames(v),
      (err: Error) => err.message.startsWith(`--slices ${JSON.stringify(v)}: `) && /all, none, or a comma list of unseen-brand, no-mpn/.test(err.message),
      JSON.stringify(v),
    );
});

test("pipeline eval --slices '' is a usage error before anything starts, not a run without slices", () => {
  const r = spawnSync(process.execPath, [BIN, 'eval', '--slices', '', '--limit', '1'], {
    encoding: 'utf8',
    env: { ...process.env, REDIS_URL: 'redis://127.0.0.1:1', LOG_LEVEL: 'error' },
    timeout: 60_000,
  });
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, /^error: --slices "": empty; all, none, or a comma list of /);
  assert.is(r.stdout, '');
});

test('expected calibration error: zero when confidence matches accuracy, the gap otherwise', () => {
  const half = [
    { confidence: 0.5, correct: true },
    { confidence: 0.5, correct: false },
  ];
  assert.is(expectedCalibrationError(half, 15), 0);
  const over = [
    { confidence: 0.9, correct: false },
    { confidence: 0.9, correct: true },
  ];
  assert.ok(Math.abs(expectedCalibrationError(over, 15) - 0.4) < 1e-9);
  // Confidence 1 falls in the last bin, not past it.
  assert.is(expectedCalibrationError([{ confidence: 1, correct: true }], 15), 0);
});

test('threshold table: share to review and accuracy above / below', () => {
  const rows = [
    { confidence: 0.2, correct: false },
    { confidence: 0.45, correct: true },
    { confidence: 0.8, correct: true },
    { confidence: 0.9, correct: true },
  ];
  const [t] = thresholdTable(rows, [0.5]);
  assert.equal(t, { threshold: 0.5, reviewShare: 0.5, accuracyAbove: 1, accuracyBelow: 0.5, above: 2, below: 2 });
});

test('routingThresholds finds confidence lt/lte in the stage routes, nested too', () => {
  const routes = {
    classify: [
      { when: { confidence: { lt: 0.4 }, category: { in: ['a'] } }, to: 'x' },
      { when: { any: [{ confidence: { lte: 0.6 } }] }, to: 'y' },
      { to: 'z' },
    ],
    other: [{ when: { confidence: { lt: 0.9 } }, to: 'q' }],
  };
  assert.equal(routingThresholds(routes, 'classify'), [0.4, 0.6]);
  assert.equal(routingThresholds(routes, 'missing'), []);
});

test('loadLabelled: ids optional, numeric or repeated; title and category required; bad lines are DatasetErrors', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'labelled-'));
  try {
    const f = join(dir, 'x.jsonl');
    const opts = { gtinShare: 0, badGtinShare: 0, seed: 1 };
    writeFileSync(
      f,
      ['{"title":"a","category":"x"}', '{"id":7,"title":"b","category":"y","source_category":"s"}', '', '{"id":"7","title":"c","category":"y"}'].join('\n'),
    );
    const { rows } = await loadLabelled(f, opts);
    assert.equal(
      rows.map((r) => r.id),
      ['line-1', '7', '7#4'],
    );
    assert.is(rows[1]!.sourceCategory, 's');
    assert.is(rows[0]!.sourceTitle, 'a');
    writeFileSync(f, '{"title":"a"}\n');
    await rejects(loadLabelled(f, opts), /:1: expected title and category/);
    writeFileSync(f, '{"title":\n');
    await rejects(loadLabelled(f, opts), /not JSON/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

async function rejects(p: Promise<unknown>, message: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  assert.ok(err, 'should have been refused');
  assert.is(err!.name, 'DatasetError');
  assert.match(err!.message, message);
}

test.run();
