/**
 * `pipeline eval`'s input: an empty --input or --train is refused before anything starts (it had
 * scored accuracy 0.000, exit 0, and every slice "above" an empty baseline); rows the producer refuses
 * (an empty title, over maxRecordBytes) are left out at load, named file:line and counted, and scored
 * on neither side (they had been scored wrong for the pipeline, right for the baseline, and blamed on
 * the workers); the input is read line by line up to --limit (a 560 MB file had ended in "Cannot
 * create a string longer than ..."); a missing --input / --train or a directory is named with its option.
 * Under `npm run eval` (run in the package's folder) a relative --input is read from where the
 * command was typed (it had been looked for in the package).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadLabelled } from '../../training/eval/dataset.js';
import { startRedis } from '../helpers/redis.js';
import { typedIn } from '../../scripts/commands/common.js';
import { BIN } from '../helpers/bin.js';

const REPO = resolve(import.meta.dirname, '../..');
const DATA = resolve(REPO, '../shared/data/products');
const dir = mkdtempSync(join(tmpdir(), 'eval-input-'));
const server = await startRedis();
const devLines = readFileSync(join(DATA, 'dev.jsonl'), 'utf8').split('\n').slice(0, 12);
writeFileSync(join(dir, 'train.jsonl'), readFileSync(join(DATA, 'train.jsonl'), 'utf8').split('\n').slice(0, 2000).join('\n') + '\n');
writeFileSync(join(dir, 'empty.jsonl'), '');

test.after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

function evalRun(args: string[], cwd = dir, env: NodeJS.ProcessEnv = {}) {
  const t0 = Date.now();
  const r = spawnSync(
    process.execPath,
    [BIN, 'eval', '--slices', 'none', '--gtin-share', '0', '--bad-gtin-share', '0', ...args],
    {
      cwd,
      encoding: 'utf8',
      env: { ...process.env, REDIS_URL: server.url, LOG_LEVEL: 'error', ...env },
      timeout: 300_000,
    },
  );
  return { ...r, ms: Date.now() - t0 };
}

test('an empty --input or --train is refused, naming the file, before any worker starts', () => {
  writeFileSync(join(dir, 'five.jsonl'), devLines.slice(0, 5).join('\n') + '\n');
  for (const args of [
    ['--input', 'empty.jsonl', '--train', 'train.jsonl'],
    ['--input', 'five.jsonl', '--train', 'empty.jsonl'],
  ]) {
    const r = evalRun(args);
    assert.is(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /error: \S*empty\.jsonl: no labelled rows/);
    assert.not.match(r.stdout, /accuracy/);
    assert.not.match(r.stderr, /supervisor\.started/);
  }
});

test('--gtin-share and --bad-gtin-share together over 1 are refused before any worker starts (the invalid share had silently been 1 - valid)', () => {
  writeFileSync(join(dir, 'five.jsonl'), devLines.slice(0, 5).join('\n') + '\n');
  const r = evalRun(['--input', 'five.jsonl', '--train', 'train.jsonl', '--gtin-share', '0.9', '--bad-gtin-share', '0.2']);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /error: --gtin-share \(0\.9\) and --bad-gtin-share \(0\.2\) are shares of the same titles: together at most 1/);
  assert.not.match(r.stderr, /supervisor\.started/);
});

test('an explicit --input spelt like the default (../shared/data/products/dev.jsonl) is read from the current directory, not beside the package', () => {
  // <dir>/shared/data/products/dev.jsonl seen from <dir>/work; its first row is refused, which names the file read.
  const data = join(dir, 'shared', 'data', 'products');
  mkdirSync(data, { recursive: true });
  mkdirSync(join(dir, 'work'), { recursive: true });
  writeFileSync(join(data, 'dev.jsonl'), [JSON.stringify({ ...JSON.parse(devLines[0]!), title: ' ' }), devLines[1]].join('\n') + '\n');
  const r = evalRun(['--input', '../shared/data/products/dev.jsonl', '--train', '../empty.jsonl', '--limit', '2'], join(dir, 'work'));
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.ok(r.stderr.includes(`${join(data, 'dev.jsonl')}:1: left out`), r.stderr);
  assert.match(r.stderr, /error: \S*empty\.jsonl: no labelled rows/);
});

test('`npm run eval -- --input FILE` reads FILE and writes --json where it was typed, not in the package folder npm runs it in', () => {
  writeFileSync(join(dir, 'typed.jsonl'), devLines.slice(0, 3).join('\n') + '\n');
  const args = ['--input', 'typed.jsonl', '--train', 'train.jsonl', '--slices', 'none', '--gtin-share', '0', '--bad-gtin-share', '0', '--json', 'typed.json'];
  const r = spawnSync('npm', ['--prefix', REPO, 'run', '-s', 'eval', '--', ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, REDIS_URL: server.url, LOG_LEVEL: 'error' },
    timeout: 300_000,
  });
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^eval: 3 records from typed\.jsonl /m);
  assert.is((JSON.parse(readFileSync(join(dir, 'typed.json'), 'utf8')) as { records: number }).records, 3);
  // Under any other npm script (a test run) the current directory stays where paths are read from.
  assert.is(typedIn('eval', { npm_lifecycle_event: 'test', INIT_CWD: '/elsewhere' }), process.cwd());
});

test('without --input/--train: the data set from env PRODUCTS_DATA (as npm run models); none there: one error naming the folder, PRODUCTS_DATA and the options', () => {
  const data = join(dir, 'products-data');
  mkdirSync(data, { recursive: true });
  writeFileSync(join(data, 'dev.jsonl'), [JSON.stringify({ ...JSON.parse(devLines[0]!), title: ' ' }), devLines[1]].join('\n') + '\n');
  writeFileSync(join(data, 'train.jsonl'), '');
  const r = evalRun(['--limit', '2'], dir, { PRODUCTS_DATA: data });
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.ok(r.stderr.includes(`${join(data, 'dev.jsonl')}:1: left out`), r.stderr);
  assert.ok(r.stderr.includes(`error: ${join(data, 'train.jsonl')}: no labelled rows`), r.stderr);

  // A fresh clone has no ../shared: a bare ENOENT had named neither the data set nor the options.
  const none = join(dir, 'no-data');
  mkdirSync(none, { recursive: true });
  const missing = evalRun(['--limit', '2'], dir, { PRODUCTS_DATA: none });
  assert.is(missing.status, 1, missing.stdout + missing.stderr);
  assert.match(
    missing.stderr,
    new RegExp(`^error: no dev\\.jsonl in ${none.replaceAll('.', '\\.')}: the labelled product data set .*PRODUCTS_DATA.*--input FILE and --train FILE`, 'm'),
  );
  assert.not.match(missing.stderr, /ENOENT/);
  assert.not.match(missing.stdout, /accuracy/);
});

test('a missing --input or --train, or a directory, is named with its option (a bare ENOENT / EISDIR had been all)', () => {
  writeFileSync(join(dir, 'two.jsonl'), devLines.slice(0, 2).join('\n') + '\n');
  mkdirSync(join(dir, 'a-dir'), { recursive: true });
  for (const [args, want] of [
    [['--input', 'nope.jsonl', '--train', 'train.jsonl'], `error: --input nope.jsonl: no such file (${join(dir, 'nope.jsonl')})`],
    [['--input', 'two.jsonl', '--train', 'nope.jsonl'], `error: --train nope.jsonl: no such file (${join(dir, 'nope.jsonl')})`],
    [['--input', 'a-dir', '--train', 'train.jsonl'], `error: --input a-dir: a directory, not a JSONL file (${join(dir, 'a-dir')})`],
  ] as const) {
    const r = evalRun([...args]);
    assert.is(r.status, 1, r.stdout + r.stderr);
    assert.ok(r.stderr.includes(want), r.stderr);
    assert.not.match(r.stderr, /ENOENT|EISDIR/);
  }
});

test('rows the producer refuses are named file:line, counted, and scored on neither side', () => {
  const rows = devLines.slice(0, 8).map((l) => JSON.parse(l) as Record<string, unknown>);
  const blank = { ...rows[2], id: 'blank', title: '   ' };
  const huge = { ...rows[5], id: 'huge', title: `${String(rows[5]!.title)} ${'x'.repeat(70_000)}` }; // over maxRecordBytes (65536)
  const lines = [...rows.slice(0, 2), blank, ...rows.slice(2, 4), huge, ...rows.slice(4)].map((r) => JSON.stringify(r));
  writeFileSync(join(dir, 'mixed.jsonl'), lines.join('\n') + '\n');
  const out = join(dir, 'mixed-scores.json');
  const r = evalRun(['--input', 'mixed.jsonl', '--train', 'train.jsonl', '--json', out, '--timeout', '120000']);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, /mixed\.jsonl:3: left out \(the pipeline's producer refuses it: field "title": expected a non-empty string\)/);
  assert.match(r.stderr, /mixed\.jsonl:6: left out \(the pipeline's producer refuses it: record is \d+ bytes, over the limit of 65536/);
  assert.match(r.stdout, /^eval: 8 records from mixed\.jsonl \(seed 7\), 2 rows left out/m);
  // Named in the report itself (a report kept without its stderr still says which rows were not scored).
  assert.match(
    r.stdout,
    /^left out \(in no score\): line 3 \(the pipeline's producer refuses it: field "title": expected a non-empty string\), line 6 \(the pipeline's producer refuses it: record is \d+ bytes, over/m,
  );
  const scores = JSON.parse(readFileSync(out, 'utf8')) as {
    records: number;
    skipped: number;
    leftOut: { line: number }[];
    where: Record<string, number>;
    categories: { n: number };
  };
  assert.equal([scores.records, scores.skipped, scores.where.missing, scores.categories.n], [8, 2, 0, 8]);
  assert.equal(
    scores.leftOut.map((x) => x.line),
    [3, 6],
  );
});

test('--limit stops reading: rows past it are never read (the file was read whole into one string)', async () => {
  // A FIFO whose writer gives 3 rows and then holds it open: only a reader that stops at the limit returns.
  const fifo = join(dir, 'rows.fifo');
  assert.is(spawnSync('mkfifo', [fifo]).status, 0);
  const three = devLines.slice(0, 3).join('\n') + '\n';
  const writer = spawn('sh', ['-c', 'exec 3>"$FIFO"; printf "%s" "$ROWS" >&3; exec sleep 30'], {
    env: { ...process.env, FIFO: fifo, ROWS: three },
    stdio: 'ignore',
  });
  try {
    const t0 = Date.now();
    const loaded = await loadLabelled(fifo, { limit: 3, gtinShare: 0, badGtinShare: 0, seed: 1 });
    assert.ok(Date.now() - t0 < 10_000, `took ${Date.now() - t0} ms`);
    assert.is(loaded.rows.length, 3);
  } finally {
    writer.kill('SIGKILL');
  }
});

test.run();
