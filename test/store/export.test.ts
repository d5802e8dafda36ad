import { spawn, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Keys } from '../../lib/redis/keys.js';
import { parseSince, type ExportedProduct } from '../../stages/sinks/export.js';
import { createRedisSink } from '../../stages/sinks/redis.js';
import type { StoredProduct } from '../../stages/sinks/sink.js';
import { cli, exited, writeConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);
const T0 = Date.parse('2024-05-01T00:00:00Z');
const HOUR = 3_600_000;

/** 60 products: categories tools / garden / toys in turn, stored one hour apart from T0. */
function products(): StoredProduct[] {
  const cats = ['tools', 'garden', 'toys'];
  return Array.from({ length: 60 }, (_, i) => ({
    key: `e${i}`,
    entryId: `${i + 1}-0`,
    traceId: `t${i}`,
    category: cats[i % 3]!,
    fields: { brand: `Brand ${i}`, ...(i % 4 === 0 ? { gtin: '036000291452', gtinValid: true } : {}) },
    doc: { key: `e${i}`, input: { id: `e${i}`, title: `Item ${i} \u201cquoted\u201d\n` }, producedAt: T0 + i * HOUR - 1000, route: ['preprocess', 'store'] },
    storedAt: T0 + i * HOUR,
  }));
}

async function seed(): Promise<{ pipeline: string; config: string; all: StoredProduct[] }> {
  const pipeline = randomPipeline();
  const all = products();
  const sink = createRedisSink(redis, new Keys(pipeline));
  await sink.write(all);
  // e3 moves from tools to garden: it must leave the tools export.
  await sink.write([{ ...all[3]!, category: 'garden', entryId: '100-0' }]);
  all[3] = { ...all[3]!, category: 'garden', entryId: '100-0' };
  return { pipeline, config: writeConfig(pipeline), all };
}

/** `pipeline export ...` → the parsed lines (every line must be valid JSON) and the exit code. */
async function runExport(config: string, args: string[]): Promise<{ lines: ExportedProduct[]; code: number | null; stdout: string }> {
  const child = cli(['--config', config, 'export', ...args], server.url);
  let stdout = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  const code = await exited(child);
  const lines = stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as ExportedProduct);
  return { lines, code, stdout };
}

const sortedKeys = (ps: { key: string }[]) => ps.map((p) => p.key).sort();

test('export --category X --since T returns exactly the products of X stored at or after T, as valid JSONL', async () => {
  const { config, all } = await seed();
  const since = new Date(T0 + 30 * HOUR).toISOString();
  const { lines, code, stdout } = await runExport(config, ['--category', 'tools', '--since', since, '--page', '7']);
  assert.is(code, 0, stdout);
  const want = all.filter((p) => p.category === 'tools' && p.storedAt >= T0 + 30 * HOUR);
  assert.ok(want.length > 5);
  assert.equal(sortedKeys(lines), sortedKeys(want));
  const e30 = lines.find((l) => l.key === 'e30')!;
  assert.equal(
    {
      category: e30.category,
      brand: e30.brand,
      gtin: e30.gtin,
      gtinValid: e30.gtinValid,
      copies: e30.copies,
      entryId: e30.entryId,
      traceId: e30.traceId,
      storedAt: e30.storedAt,
    },
    { category: 'tools', brand: 'Brand 30', gtin: null, gtinValid: null, copies: 1, entryId: '31-0', traceId: 't30', storedAt: '2024-05-02T06:00:00.000Z' },
  );
  assert.is((e30.doc.input as { title: string }).title, 'Item 30 \u201cquoted\u201d\n', 'the doc survives the round trip');
  assert.is(e30.producedAt, new Date(T0 + 30 * HOUR - 1000).toISOString());
});

test('export without filters streams every product once, in pages; a category move is reflected', async () => {
  const { config, all } = await seed();
  const { lines, code, stdout } = await runExport(config, ['--page', '4']);
  assert.is(code, 0, stdout);
  assert.equal(sortedKeys(lines), sortedKeys(all));
  assert.is(new Set(lines.map((l) => l.key)).size, all.length, 'no key twice');
  const tools = await runExport(config, ['--category', 'tools']);
  assert.not.ok(
    tools.lines.some((l) => l.key === 'e3'),
    'e3 moved to garden',
  );
  const garden = await runExport(config, ['--category', 'garden']);
  const e3 = garden.lines.find((l) => l.key === 'e3')!;
  assert.equal([e3.copies, e3.gtinValid], [2, null]);
  assert.is(garden.lines.find((l) => l.key === 'e4')!.gtinValid, true);
});

test('a filter that selects nothing is said on stderr, naming it (export had exited 0 with an empty file and no word, where reprocess warns)', async () => {
  const { config } = await seed();
  for (const [args, said] of [
    [['--category', 'Tools'], '--category "Tools" (categories are compared exactly, case and spaces included: try "tools")'],
    [['--category', 'tools', '--since', '2030-01-01'], '--category "tools" --since 2030-01-01'],
  ] as const) {
    const child = cli(['--config', config, 'export', ...args], server.url);
    assert.is(await exited(child), 0, child.output());
    assert.ok(child.output().includes(`warning: no stored product in the redis sink matched ${said}\n`), child.output());
  }
  const found = cli(['--config', config, 'export', '--category', 'tools'], server.url);
  assert.is(await exited(found), 0);
  assert.not.match(found.output(), /warning: no stored product/, 'not when the filter selects products');
});

test('export --out FILE writes the file (nothing on stdout); a bad --since fails with a message', async () => {
  const { config } = await seed();
  const out = join(tmpdir(), `${randomPipeline()}.jsonl`);
  try {
    const r = await runExport(config, ['--out', out, '--category', 'toys', '--since', '2024-05-02T00:00:00Z']);
    assert.is(r.code, 0);
    assert.is(r.stdout, '');
    const lines = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as ExportedProduct);
    assert.equal(sortedKeys(lines), ['e26', 'e29', 'e32', 'e35', 'e38', 'e41', 'e44', 'e47', 'e50', 'e53', 'e56', 'e59']);
  } finally {
    rmSync(out, { force: true });
  }
  const child = cli(['--config', config, 'export', '--since', 'yesterday-ish'], server.url);
  assert.is(await exited(child), 1);
  assert.match(child.output(), /--since: not a time/);
});

test('export --out FIFO writes into the FIFO, which stays a FIFO (FILE.partial renamed over it had replaced it by a regular file)', async () => {
  const { config, all } = await seed();
  const fifo = join(tmpdir(), `${randomPipeline()}.fifo`);
  assert.is(spawnSync('mkfifo', [fifo]).status, 0);
  // The reader: a `cat` that can be killed if the FIFO it waits on was replaced.
  const reader = spawn('cat', [fifo], { stdio: ['ignore', 'pipe', 'ignore'] });
  let read = '';
  reader.stdout.on('data', (d: Buffer) => (read += d.toString()));
  try {
    const r = await runExport(config, ['--out', fifo]);
    assert.is(r.code, 0, r.stdout);
    assert.ok(lstatSync(fifo).isFIFO(), 'still a FIFO');
    await exited(reader);
    const lines = read
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as ExportedProduct);
    assert.equal(sortedKeys(lines), sortedKeys(all));
    assert.not.ok(existsSync(`${fifo}.partial`));
  } finally {
    reader.kill();
    rmSync(fifo, { force: true });
    rmSync(`${fifo}.partial`, { force: true });
  }
});

test('Ctrl-C during export --out FILE exits 130 and leaves neither FILE nor FILE.partial', async () => {
  const { config } = await seed();
  const out = join(tmpdir(), `${randomPipeline()}.jsonl`);
  // A stopped redis-server holds the export at its first read, with FILE.partial open.
  const pid = Number(/process_id:(\d+)/.exec(await redis.info('server'))![1]);
  process.kill(pid, 'SIGSTOP');
  try {
    const child = cli(['--config', config, 'export', '--out', out], server.url);
    await waitFor('FILE.partial', () => existsSync(`${out}.partial`));
    child.kill('SIGINT');
    assert.is(await exited(child), 130, child.output());
    assert.not.ok(existsSync(`${out}.partial`), 'FILE.partial removed');
    assert.not.ok(existsSync(out));
    assert.match(child.output(), /export: stopped by SIGINT/);
  } finally {
    process.kill(pid, 'SIGCONT');
    rmSync(out, { force: true });
    rmSync(`${out}.partial`, { force: true });
  }
});

test('--since reads ISO-8601 dates and times and ages, and refuses the rest (Date.parse had read "7" as July 2001, 2024-02-30 as 1 March)', () => {
  const now = Date.UTC(2026, 11, 5, 12, 0, 0);
  assert.is(parseSince('2024-05-01', now), Date.UTC(2024, 4, 1));
  assert.is(parseSince('2024-05-01T12:30:00Z', now), Date.UTC(2024, 4, 1, 12, 30));
  assert.is(parseSince('2024-05-01T12:30:00.250+02:00', now), Date.UTC(2024, 4, 1, 10, 30, 0, 250));
  assert.is(parseSince('24h', now), now - 86_400_000);
  assert.is(parseSince('90m', now), now - 5_400_000);
  assert.is(parseSince('7d', now), now - 7 * 86_400_000);
  for (const bad of ['7', 'May 1', '2024-02-30', '2024-13-01', '2024-05-01T24:00:00Z', 'yesterday', '', '-1h', '1w'])
    assert.throws(() => parseSince(bad, now), /--since: not a time/, bad);
});

test.run();
