/**
 * `pipeline priors` on a feed shaped like another retailer's (categories missing), and the classify
 * stage's `settings.categoryWeights` in a real pipeline run (`pipeline eval --dump`).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FileError } from '../../lib/core/errors.js';
import { readTitles } from '../../scripts/commands/priors.js';
import { BIN } from '../helpers/bin.js';

const REPO = resolve(import.meta.dirname, '../..');
const DATA = resolve(REPO, '../shared/data/products');
const dir = mkdtempSync(join(tmpdir(), 'priors-cli-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const dev = readFileSync(join(DATA, 'dev.jsonl'), 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l) as { id: string; title: string; category: string });
const writeRows = (name: string, rows: unknown[]) => {
  writeFileSync(join(dir, name), rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n') + '\n');
  return join(dir, name);
};
const pipeline = (args: string[]) =>
  spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, LOG_LEVEL: 'error' } });

/** The default config with the classify stage's settings extended. */
function configWith(settings: Record<string, unknown>): string {
  const config = JSON.parse(readFileSync(join(REPO, 'config/pipeline.json'), 'utf8')) as { stages: { kind: string; settings?: Record<string, unknown> }[] };
  const classify = config.stages.find((s) => s.kind === 'classify')!;
  classify.settings = { ...classify.settings, ...settings };
  const file = join(dir, `config-${Object.keys(settings).join('-')}-${Math.random().toString(36).slice(2, 8)}.json`);
  writeFileSync(file, JSON.stringify(config));
  return file;
}

test('priors: categories missing from the feed get weights near 0, the others keep theirs, and labelled rows score better', () => {
  const missing = new Set(['gps_auto', 'security_surveillance', 'phones_radios']);
  const feed = writeRows(
    'feed.jsonl',
    dev.filter((r) => !missing.has(r.category)),
  );
  const r = pipeline(['priors', '--input', feed, '--json']);
  assert.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as {
    converged: boolean;
    titles: number;
    referenceTitles: number;
    categoryWeights: Record<string, number>;
    accuracy: { rows: number; without: number; with: number };
  };
  assert.ok(out.converged);
  assert.is(out.titles, dev.filter((r) => !missing.has(r.category)).length);
  assert.ok(out.referenceTitles > 1000, `reference titles: ${out.referenceTitles}`);
  for (const [c, w] of Object.entries(out.categoryWeights))
    if (missing.has(c)) assert.ok(w < 0.2, `${c} is not in the feed: weight ${w}`);
    else if (c !== 'software') assert.ok(w > 0.4, `${c} is in the feed: weight ${w}`);
  assert.is(out.accuracy.rows, out.titles);
  assert.ok(out.accuracy.with > out.accuracy.without, `accuracy ${out.accuracy.without} → ${out.accuracy.with}`);
});

test('priors counts in the number they take: one title is "1 title", one labelled row "1 row"', () => {
  const r = pipeline(['priors', '--input', writeRows('one.jsonl', [dev[0]])]);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /^1 title of .* against \d+ reference titles /);
  assert.match(r.stdout, /\nnote: 1 title; below /);
  assert.match(r.stdout, /labels \(1 row; labels not used/);
  assert.not.match(r.stdout, /\b1 (titles|rows)\b/);
});

test('priors: a line without a title is an error naming the file and line', () => {
  const feed = writeRows('bad.jsonl', [{ title: 'Sony MDR-7506 Headphones' }, { name: 'no title here' }]);
  const r = pipeline(['priors', '--input', feed]);
  assert.is.not(r.status, 0);
  assert.match(r.stderr, /bad\.jsonl:2: no "title"/);
});

test('priors reads its files as every JSONL file the CLI reads: a byte order mark and CRLF taken, a null line, bad JSON and Latin-1 named by file:line', () => {
  const rows = dev.slice(0, 3).map((r) => JSON.stringify({ title: r.title, category: r.category }));
  writeFileSync(join(dir, 'bom.jsonl'), '\uFEFF' + rows.join('\r\n') + '\r\n');
  assert.equal(
    readTitles(join(dir, 'bom.jsonl')).map((r) => r.category),
    dev.slice(0, 3).map((r) => r.category),
  );
  const refused = (name: string, body: string | Buffer, why: RegExp) => {
    writeFileSync(join(dir, name), body);
    assert.throws(() => readTitles(join(dir, name)), (err: Error) => err instanceof FileError && why.test(err.message), name);
  };
  refused('null.jsonl', rows[0] + '\nnull\n', /null\.jsonl:2: not a JSON object/);
  refused('syntax.jsonl', rows[0] + '\n{"title": x}\n', /syntax\.jsonl:2: not JSON \(/);
  refused('latin1.jsonl', Buffer.concat([Buffer.from(rows[0] + '\n'), Buffer.from('{"title":"Caf\xe9 cable"}\n', 'latin1')]), /latin1\.jsonl:2: not UTF-8/);
});

test('without the data set and without --reference, the error says where the reference titles come from', () => {
  const feed = writeRows('two.jsonl', [{ title: 'Sony MDR-7506 Headphones' }]);
  const r = spawnSync(process.execPath, [BIN, 'priors', '--input', feed], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, LOG_LEVEL: 'error', PRODUCTS_DATA: join(dir, 'nowhere') },
  });
  assert.is.not(r.status, 0);
  assert.match(r.stderr, /no train\.jsonl in .*nowhere.*PRODUCTS_DATA.*--reference FILE/);
});

test('--stage naming a stage of another kind is refused, naming the classify stages (an extractor had been run as a classifier)', () => {
  const feed = writeRows('stage.jsonl', [{ title: 'Sony MDR-7506 Headphones' }]);
  const r = pipeline(['priors', '--input', feed, '--stage', 'extract.electronics']);
  assert.is.not(r.status, 0);
  assert.match(r.stderr, /--stage: stage extract\.electronics is of kind extract, not classify \(stages of kind classify: classify\)/);
});

test('categoryWeights naming a category the model lacks is refused at config load, naming the setting', () => {
  const feed = writeRows('one.jsonl', [{ title: 'Sony MDR-7506 Headphones' }]);
  const r = pipeline(['-c', configWith({ categoryWeights: { audoi: 0.5 } }), 'priors', '--input', feed]);
  assert.is.not(r.status, 0);
  assert.match(r.stderr, /stages\[1\]\.settings\.categoryWeights: names categories the model does not have: audoi/);
  assert.match(r.stderr, /audoi/);
});

test('a pipeline run with categoryWeights: a category at weight 0 is never given', () => {
  const audio = dev.filter((r) => r.category === 'audio').slice(0, 30);
  const input = writeRows('audio.jsonl', audio);
  const dump = join(dir, 'dump.jsonl');
  const config = configWith({ categoryWeights: { audio: 0 } });
  const args = ['-c', config, 'eval', '--input', input, '--slices', 'none', '--gtin-share', '0', '--bad-gtin-share', '0', '--dump', dump];
  const r = pipeline([...args, '--timeout', '120000']);
  assert.is(r.status, 0, r.stderr);
  const rows = readFileSync(dump, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { predicted: { category?: string } });
  assert.is(rows.length, 30);
  const given = rows.map((x) => x.predicted.category);
  assert.ok(
    given.every((c) => typeof c === 'string' && c !== 'audio'),
    `categories given: ${given.join(', ')}`,
  );
  // The same rows without weights: the model calls most of them audio (so the test above can fail).
  const plain = pipeline(['eval', '--input', input, '--slices', 'none', '--gtin-share', '0', '--bad-gtin-share', '0', '--dump', dump, '--timeout', '120000']);
  assert.is(plain.status, 0, plain.stderr);
  const audioPlain = readFileSync(dump, 'utf8')
    .trim()
    .split('\n')
    .filter((l) => (JSON.parse(l) as { predicted: { category?: string } }).predicted.category === 'audio').length;
  assert.ok(audioPlain >= 20, `without weights ${audioPlain} of 30 are audio`);
});

test.run();
