/**
 * `pipeline eval --input` on the fields a user's file may spell otherwise: a brand or MPN written
 * as a number (`"mpn": 152132`) had been dropped without a word (the row never scored for it); it
 * is read as its digits, and a brand / mpn / source_category of another type (true, an object) is
 * an error naming file:line, as is a row without title and category strings, which now says what
 * it has. Rows repeating an earlier row's id had been renamed `<id>#<line>` without a word; each is
 * still its own record, and eval says so (stderr, report, --json). A file that is not UTF-8 had
 * been read with U+FFFD in its titles; it is an error naming the line (a gzip-compressed one is
 * named as such). Also kept here: CRLF line ends, a 10,000-character title and control characters
 * are scored like any row.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadLabelled } from '../../training/eval/dataset.js';
import { buildProgram } from '../../scripts/commands/program.js';
import { BIN } from '../helpers/bin.js';

const REPO = resolve(import.meta.dirname, '../..');
const DATA = resolve(REPO, '../shared/data/products');
const dir = mkdtempSync(join(tmpdir(), 'eval-fields-'));
const load = (name: string, lines: object[]) => {
  writeFileSync(join(dir, name), lines.map((l) => JSON.stringify(l)).join('\r\n') + '\r\n');
  return loadLabelled(join(dir, name), { gtinShare: 0, badGtinShare: 0, seed: 1 });
};
const failure = (p: Promise<unknown>) =>
  p.then(
    () => '',
    (e: Error) => e.message,
  );

test.after(() => rmSync(dir, { recursive: true, force: true }));

test('a brand, mpn or source_category given as a number is read as its digits; null or blank as none; another type is an error naming the line', async () => {
  const base = { title: '3M 152132 Privacy Filter', category: 'peripherals' };
  const { rows } = await load('numbers.jsonl', [
    { ...base, id: 'n1', brand: 3, mpn: 152132, source_category: 42 },
    { ...base, id: 'n2', brand: null, mpn: '  ' },
  ]);
  assert.equal(
    rows.map((r) => [r.brand, r.mpn, r.sourceCategory]),
    [
      ['3', '152132', '42'],
      [undefined, undefined, undefined],
    ],
  );
  assert.match(
    await failure(
      load('bool.jsonl', [
        { ...base, id: 'b1' },
        { ...base, id: 'b2', brand: true },
      ]),
    ),
    /bool\.jsonl:2: brand must be a string or a number where given, not boolean/,
  );
  assert.match(
    await failure(load('obj.jsonl', [{ ...base, id: 'o1', mpn: { v: 1 } }])),
    /obj\.jsonl:1: mpn must be a string or a number where given, not object/,
  );
});

test('a row without title and category strings is an error naming what it has (another file\'s "Title", a number, an array)', async () => {
  assert.match(
    await failure(load('other.jsonl', [{ Title: 'Koss EQ50', Category: 'audio', sku: 12 }])),
    /other\.jsonl:1: expected title and category strings .*; the row has "Title" \(string\), "Category" \(string\), "sku" \(number\)$/,
  );
  assert.match(
    await failure(load('num.jsonl', [{ title: 'Koss EQ50', category: 3 }])),
    /num\.jsonl:1: .*; the row has "title" \(string\), "category" \(number\)$/,
  );
  assert.match(await failure(load('arr.jsonl', [['Koss EQ50', 'audio']])), /arr\.jsonl:1: .*; the line is an array, not an object$/);
});

test('rows repeating an id are each their own record, and listed with the line of the first', async () => {
  const row = { title: 'Koss EQ50 Equalizer', category: 'audio' };
  const { rows, duplicates } = await load('dups.jsonl', [
    { ...row, id: 'a' },
    { ...row, id: 'b' },
    { ...row, id: 'a' },
    { ...row, id: 7 },
    { ...row, id: '7' },
    { ...row, id: 'a#3' },
  ]);
  assert.equal(
    rows.map((r) => r.id),
    ['a', 'b', 'a#3', '7', '7#5', 'a#3#6'],
  );
  assert.equal(duplicates, [
    { line: 3, id: 'a', firstLine: 1 },
    { line: 5, id: '7', firstLine: 4 },
    { line: 6, id: 'a#3', firstLine: 3 },
  ]);
  // A row's own id spelt like an earlier repeat's new name: still a record of its own.
  const clash = await load('clash.jsonl', [
    { ...row, id: 'a' },
    { ...row, id: 'a#3' },
    { ...row, id: 'a' },
  ]);
  assert.equal(
    clash.rows.map((r) => r.id),
    ['a', 'a#3', 'a#3#'],
  );
});

test('a null or blank id is none: the row is numbered by its line (it had been left out, out of every score)', async () => {
  const row = { title: 'Koss EQ50 Equalizer', category: 'audio' };
  const { rows, skipped } = await load('blank-ids.jsonl', [{ ...row, id: null }, { ...row, id: '' }, { ...row, id: '  ' }, { ...row, id: 'k4' }, row]);
  assert.equal(
    rows.map((r) => r.id),
    ['line-1', 'line-2', 'line-3', 'k4', 'line-5'],
  );
  assert.equal(skipped, []);
});

test('a file that is not UTF-8 (Windows-1252) is an error naming the line, not titles with U+FFFD in them', async () => {
  const file = join(dir, 'cp1252.jsonl');
  const ok = JSON.stringify({ id: 'c1', title: 'Sony MDR Headphones', category: 'audio' });
  writeFileSync(
    file,
    Buffer.concat([Buffer.from(ok + '\r\n'), Buffer.from(JSON.stringify({ id: 'c2', title: 'Caf\u00e9 Speaker', category: 'audio' }) + '\r\n', 'latin1')]),
  );
  assert.match(await failure(loadLabelled(file, { gtinShare: 0, badGtinShare: 0, seed: 1 })), /cp1252\.jsonl:2: not UTF-8 \(a Latin-1 or Windows-1252 file\?/);
  // The same title in UTF-8 is read as written.
  writeFileSync(file, ok + '\n' + JSON.stringify({ id: 'c2', title: 'Caf\u00e9 Speaker', category: 'audio' }) + '\n');
  assert.is((await loadLabelled(file, { gtinShare: 0, badGtinShare: 0, seed: 1 })).rows[1]!.title, 'Caf\u00e9 Speaker');
});

test('a gzip-compressed file is named as such, not as a file of another encoding', async () => {
  const file = join(dir, 'rows.jsonl.gz');
  writeFileSync(file, gzipSync(JSON.stringify({ id: 'g1', title: 'Koss EQ50 Equalizer', category: 'audio' }) + '\n'));
  assert.match(await failure(loadLabelled(file, { gtinShare: 0, badGtinShare: 0, seed: 1 })), /rows\.jsonl\.gz: gzip-compressed, not JSONL: gunzip it first/);
});

test("eval --help names every field --input's rows are read for", () => {
  const input = buildProgram()
    .commands.find((c) => c.name() === 'eval')!
    .options.find((o) => o.long === '--input')!.description;
  for (const field of ['title', 'category', 'id?', 'brand?', 'mpn?', 'source_category?']) assert.ok(input.includes(field), `${field}: ${input}`);
});

test('a UTF-16 file (PowerShell Out-File, Notepad "Unicode"), with or without a byte order mark, is named as such, not as Windows-1252', async () => {
  const text = JSON.stringify({ id: 'u1', title: 'Koss EQ50 Equalizer', category: 'audio' }) + '\r\n';
  const le = Buffer.from(text, 'utf16le');
  const be = Buffer.from(le).swap16();
  const cases: [string, Buffer, string][] = [
    ['le-bom.jsonl', Buffer.concat([Buffer.from([0xff, 0xfe]), le]), 'utf-16'],
    ['be-bom.jsonl', Buffer.concat([Buffer.from([0xfe, 0xff]), be]), 'utf-16'],
    ['le.jsonl', le, 'utf-16le'],
    ['be.jsonl', be, 'utf-16be'],
  ];
  for (const [name, bytes, from] of cases) {
    writeFileSync(join(dir, name), bytes);
    assert.is(
      await failure(loadLabelled(join(dir, name), { gtinShare: 0, badGtinShare: 0, seed: 1, leaveOutBadRows: true })),
      `${join(dir, name)}: UTF-16, not UTF-8: convert it first, e.g. iconv -f ${from} -t utf-8 FILE > FILE.utf8`,
      name,
    );
  }
});

test('a JSON array (one line or pretty-printed) is named as such with the jq line that makes JSONL of it', async () => {
  const rows = [{ id: 'j1', title: 'Koss EQ50 Equalizer', category: 'audio' }];
  const opts = { gtinShare: 0, badGtinShare: 0, seed: 1, leaveOutBadRows: true };
  const hint = ": the file looks like one JSON array, not JSONL (one object per line): convert it first, e.g. jq -c '.[]' FILE > FILE.jsonl";
  for (const [name, text] of [
    ['one-line.json', JSON.stringify(rows)],
    ['pretty.json', '\n' + JSON.stringify(rows, null, 2) + '\n'],
  ]) {
    writeFileSync(join(dir, name!), text!);
    const message = await failure(loadLabelled(join(dir, name!), opts));
    assert.ok(message.startsWith(`${join(dir, name!)}: no row that can be scored (`) && message.endsWith(hint), message);
  }
  writeFileSync(join(dir, 'csv.jsonl'), 'title,category\nKoss EQ50,audio\n');
  assert.not.ok((await failure(loadLabelled(join(dir, 'csv.jsonl'), opts))).includes('JSON array'));
});

test('eval: a numeric MPN is scored, repeated ids are said, and CRLF, a 10,000-character title and control characters are scored like any row', () => {
  const dev = readFileSync(join(DATA, 'dev.jsonl'), 'utf8')
    .split('\n')
    .slice(0, 40)
    .map((l) => JSON.parse(l) as { id: string; title: string; mpn?: string });
  const numeric = dev.find((r) => /^\d{4,12}$/.test(r.mpn ?? '') && r.title.includes(r.mpn!))!;
  assert.ok(numeric, 'a dev row with a numeric MPN in its title');
  const rows: object[] = [
    { ...numeric, mpn: Number(numeric.mpn) },
    ...dev.slice(0, 6).filter((r) => r !== numeric),
    { ...dev[7], id: dev[0]!.id },
    { ...dev[8], title: `${dev[8]!.title} ${'word '.repeat(2000)}` },
    { ...dev[9], title: `${dev[9]!.title}\u0000\u0007\u001b[31m\u007f` },
  ];
  writeFileSync(join(dir, 'train.jsonl'), readFileSync(join(DATA, 'train.jsonl'), 'utf8').split('\n').slice(0, 2000).join('\n') + '\n');
  writeFileSync(join(dir, 'input.jsonl'), rows.map((r) => JSON.stringify(r)).join('\r\n') + '\r\n');
  const json = join(dir, 'scores.json');
  const dump = join(dir, 'dump.jsonl');
  const r = spawnSync(
    process.execPath,
    [
      BIN,
      'eval',
      '--input',
      'input.jsonl',
      '--train',
      'train.jsonl',
      '--slices',
      'none',
      '--gtin-share',
      '0',
      '--bad-gtin-share',
      '0',
      '--json',
      json,
      '--dump',
      dump,
      '--timeout',
      '120000',
    ],
    { cwd: dir, encoding: 'utf8', env: { ...process.env, LOG_LEVEL: 'error' }, timeout: 300_000 },
  );
  assert.is(r.status, 0, r.stderr);
  const dupLine = rows.length - 2;
  assert.ok(
    r.stderr.includes(`warning: input.jsonl: 1 row repeats the id of an earlier row (line ${dupLine} repeats ${JSON.stringify(dev[0]!.id)} of line `),
    r.stderr,
  );
  assert.match(r.stdout, new RegExp(`^eval: ${rows.length} records from input\\.jsonl \\(seed 7\\), 1 row repeating an earlier row's id`, 'm'));
  const s = JSON.parse(readFileSync(json, 'utf8')) as { records: number; duplicateIds: number; where: Record<string, number>; categories: { n: number } };
  assert.equal([s.records, s.duplicateIds, s.categories.n, s.where.missing, s.where.dlq], [rows.length, 1, rows.length, 0, 0]);
  const dumped = readFileSync(dump, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { id: string; mpn?: string; where: string; predicted: { category?: string } });
  assert.is(dumped[0]!.mpn, numeric.mpn, 'the numeric MPN is the truth it is scored against');
  assert.is(dumped[dupLine - 1]!.id, `${dev[0]!.id}#${dupLine}`);
  for (const d of dumped.slice(-2)) assert.ok(d.where !== 'missing' && typeof d.predicted.category === 'string', JSON.stringify(d).slice(0, 300));
});

test.run();
