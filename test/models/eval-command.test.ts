/** `pipeline eval --input FILE` on a small labelled file: every section of the report, rows without ids. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { attributeSpans, GROUPS } from '../../training/labels.js';
import { BIN } from '../helpers/bin.js';

const REPO = resolve(import.meta.dirname, '../..');
const DATA = resolve(REPO, '../shared/data/products');
const dir = mkdtempSync(join(tmpdir(), 'eval-cmd-'));

test.after(() => rmSync(dir, { recursive: true, force: true }));

test('eval scores any labelled JSONL: baseline, every slice, calibration, subcategory, identifiers, attributes', () => {
  const lines = (f: string, n: number) =>
    readFileSync(join(DATA, f), 'utf8')
      .trim()
      .split('\n')
      .slice(0, n)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  // Held-out-style rows: no id, title and category only for some.
  const rows = lines('dev.jsonl', 24).map(({ id: _id, ...r }, i) => (i % 3 === 0 ? { title: r.title, category: r.category } : r));
  writeFileSync(join(dir, 'input.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  writeFileSync(
    join(dir, 'train.jsonl'),
    lines('train.jsonl', 3000)
      .map((r) => JSON.stringify(r))
      .join('\n') + '\n',
  );
  const out = join(dir, 'scores.json');
  const r = spawnSync(
    process.execPath,
    [
      BIN,
      'eval',
      // Relative to the current directory, run from elsewhere (they had been resolved against the package).
      '--input',
      'input.jsonl',
      '--train',
      'train.jsonl',
      '--gtin-share',
      '0',
      '--bad-gtin-share',
      '0',
      '--json',
      out,
      '--dump',
      'dump.jsonl',
      '--timeout',
      '120000',
    ],
    {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, LOG_LEVEL: 'error' },
    },
  );
  assert.is(r.status, 0, r.stderr);
  const text = r.stdout;
  for (const line of [
    /^eval: 24 records/m,
    /^baseline: naive Bayes/m,
    /^ {2}unseen-brand +\d+/m,
    /^ {2}no-mpn +\d+/m,
    /^ {2}no-brand +\d+/m,
    /^ {2}first-8-words +24 /m,
    /^ {2}lower-case +24 /m,
    /^calibration: expected calibration error 0\.\d{3}/m,
    /^ {2}0\.50\* /m,
    /^subcategory \(n=16,/m,
    /^mpn given on titles without their labelled one \(n=\d+\): [01]\.\d{3}/m,
    /^mpn given on titles that lost theirs \(no-mpn slice, n=\d+\): [01]\.\d{3}/m,
    /^brand given on titles that lost theirs \(no-brand slice, n=\d+\): [01]\.\d{3}/m,
    /^attribute given where the labeller finds none \(n=\d+\): /m,
    /^attribute schema: \d+ records checked, \d+ flagged/m,
    /^accuracy: 0\.\d{3}$/m,
  ]) {
    assert.match(text, line);
  }
  const scores = JSON.parse(readFileSync(out, 'utf8')) as {
    records: number;
    sent: number;
    slices: { name: string; n: number }[];
    where: Record<string, number>;
    calibration: { ece: number };
    attributes: { kinds: { n: number; valueRight: number }[]; unlabelled: { n: number } };
  };
  assert.is(scores.records, 24);
  assert.ok(scores.sent > 24, 'slice variants were sent through the pipeline');
  assert.equal(
    scores.slices.map((s) => s.name),
    ['unseen-brand', 'no-mpn', 'no-brand', 'brand-last', 'first-8-words', 'lower-case'],
  );
  assert.is(scores.where.missing, 0);
  assert.ok(scores.calibration.ece >= 0 && scores.calibration.ece <= 1);
  // Every category is in an extractor group: each row is scored for its group's attribute or counted as without one.
  assert.is(scores.attributes.kinds.reduce((a, k) => a + k.n, 0) + scores.attributes.unlabelled.n, 24);
  // The rows with a span the labeller finds ("700MB", "1 TB", "25ft", ...): the stored attributes reach the scores.
  const labelled = rows.filter((r) => {
    const group = GROUPS.find((g) => g.categories.includes(String(r.category)))!;
    return attributeSpans(String(r.title), group).length > 0;
  }).length;
  assert.ok(labelled >= 4, `${labelled} rows with a labelled span`);
  assert.is(
    scores.attributes.kinds.reduce((a, k) => a + k.n, 0),
    labelled,
  );
  assert.ok(scores.attributes.kinds.reduce((a, k) => a + k.valueRight, 0) >= 1, 'some extracted value is scored right');
  // --dump carries each record's attributes for error analysis.
  const dumped = readFileSync(join(dir, 'dump.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { title: string; predicted: { attributes?: Record<string, { text?: string }> } });
  const withText = dumped.find((d) => d.title.includes('1 TB'))!;
  assert.is(withText.predicted.attributes?.capacity?.text, '1 TB', JSON.stringify(withText.predicted));
});

test.run();
