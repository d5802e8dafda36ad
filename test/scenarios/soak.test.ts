import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { reportLines } from '../helpers/report-lines.js';

const ROOT = resolve(import.meta.dirname, '../..');

/** `npm run soak` with short settings, as a child process. */
function soak(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, ['--import', 'tsx', resolve(ROOT, 'scripts/scenarios/soak.ts'), ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => res({ code, out }));
  });
}

test('soak (short): 1,500 records through the full model pipeline with a worker SIGKILLed every half second (up to 3 kills, as many as the run lasts for): nothing lost or duplicated; RSS and Redis memory reported', async () => {
  const { code, out } = await soak([
    '--records',
    '1500',
    '--kill-every-ms',
    '500',
    '--max-kills',
    '3',
    '--max-backlog',
    '2000',
    '--sample-ms',
    '250',
    '--seed',
    '3',
  ]);
  const { line, figure } = reportLines(out);
  assert.is(code, 0, out);
  assert.is(figure('records'), 1500, out);
  assert.is(figure('lost'), 0, out);
  assert.is(figure('duplicated'), 0, out);
  assert.is(figure('forwarded twice'), 0, out);
  assert.ok(figure('unchecked (trimmed)') >= 0, 'the entries trimmed before the count are reported');
  assert.is(figure('dlq unexpected'), 0, out);
  assert.is(figure('stored') + figure('dlq bad records'), 1500);
  // A fast machine drains 1,500 records before the third kill: the kills the run lasted for, at least one.
  assert.ok(figure('kills') >= 1 && figure('kills') <= 3, out);
  assert.match(line('rss growth') ?? '', /^-?\d+(\.\d+)?%$/, 'a measured RSS growth');
  assert.match(line('rss growth, stages that hold no data') ?? '', /^-?\d+(\.\d+)?%$/, 'a measured RSS growth without the match stage');
  assert.match(line('redis memory') ?? '', /^\d+ MB$/);
  assert.ok(figure('seconds') > 0);
});

test('soak with a record lost (a sink that acks s5 without writing it): once the pipeline is idle it reports lost: 1 and exits 1, long before --timeout', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'soak-lost-'));
  const raw = JSON.parse(readFileSync(resolve(ROOT, 'config/rules-only.json'), 'utf8')) as { stages: { name: string; settings?: object }[] };
  const store = raw.stages.find((s) => s.name === 'store')!;
  store.settings = { sink: `module:${resolve(ROOT, 'test/fixtures/lose-s5-sink.ts')}` };
  const config = join(dir, 'pipeline.json');
  writeFileSync(config, JSON.stringify(raw));
  const started = Date.now();
  const { code, out } = await soak([
    '--config',
    config,
    '--titles',
    'synthetic',
    '--records',
    '600',
    '--max-kills',
    '0',
    '--sample-ms',
    '200',
    '--timeout',
    '90000',
  ]);
  rmSync(dir, { recursive: true, force: true });
  const { figure } = reportLines(out);
  assert.is(code, 1, out);
  assert.is(figure('records'), 600, out);
  assert.is(figure('stored'), 599, out);
  assert.is(figure('lost'), 1, out);
  assert.match(out, /FAILED: 1 lost/);
  assert.ok(Date.now() - started < 80_000, 'reported before --timeout');
});

test.run();
