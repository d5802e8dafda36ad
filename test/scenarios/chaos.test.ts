import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { reportLines } from '../helpers/report-lines.js';

const ROOT = resolve(import.meta.dirname, '../..');

/** `npm run chaos` with its short settings, as a child process; resolves with its exit code and output. */
function chaos(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, ['--import', 'tsx', resolve(ROOT, 'scripts/scenarios/chaos.ts'), ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => res({ code, out }));
  });
}

test('chaos: 5,000 records while 3 workers are SIGKILLed and redis-server is killed and restarted: nothing lost, duplicated or forwarded twice, only the garbage in the DLQ', async () => {
  const { code, out } = await chaos([
    '--records',
    '5000',
    '--kill-every-ms',
    '1000',
    '--max-kills',
    '3',
    '--rate',
    '1000',
    '--redis-restarts',
    '1',
    '--seed',
    '4',
  ]);
  const { figure } = reportLines(out);
  assert.is(code, 0, out);
  assert.is(figure('sent'), 5000, out);
  assert.is(figure('stored'), 5000);
  assert.is(figure('lost'), 0);
  assert.is(figure('duplicated'), 0);
  assert.is(figure('forwarded twice'), 0, 'no stage forwarded an entry twice, across the kills and the redis-server restart');
  assert.is(figure('unchecked (trimmed)'), 0, 'the streams kept whole: every entry checked');
  assert.ok(figure('entries checked') >= 5000, 'every record is in the store stream at least: the check read them');
  assert.is(figure('produced twice'), 0);
  assert.is(figure('dlq'), 20, 'the 20 garbage entries, nothing else');
  assert.is(figure('dlq unexpected'), 0);
  assert.is(figure('rejected'), 5, 'the 5 bad lines');
  assert.is(figure('kills'), 3);
  assert.is(figure('redis restarts'), 1);
});

test('chaos --scenario oom: Redis full (noeviction) for 2 s while 5,000 records flow, then the limit lifted: everything stored once, only the garbage in the DLQ', async () => {
  const { code, out } = await chaos(['--scenario', 'oom', '--records', '5000', '--headroom-mb', '1', '--oom-hold-ms', '2000', '--workers', '1', '--seed', '5']);
  const { figure } = reportLines(out);
  assert.is(code, 0, out);
  assert.is(figure('sent'), 5000, out);
  assert.is(figure('stored'), 5000);
  assert.is(figure('lost'), 0);
  assert.is(figure('duplicated'), 0);
  assert.is(figure('forwarded twice'), 0);
  assert.is(figure('unchecked (trimmed)'), 0);
  assert.ok(figure('entries checked') >= 5000);
  assert.is(figure('dlq'), 20, 'the 20 garbage entries: no good record dead-lettered because Redis was full');
  assert.is(figure('dlq unexpected'), 0);
  assert.ok(figure('redis oom refusals') > 0, 'Redis did refuse writes');
});

test('chaos --models --colocate: 1,000 records through the full model pipeline as config/pipeline.json runs it (two processes, fused stages) while 3 workers are SIGKILLed and redis-server restarts: nothing lost or duplicated, only garbage (and genuinely bad records, counted apart) in the DLQ', async () => {
  const { code, out } = await chaos([
    '--models',
    '--colocate',
    '--records',
    '1000',
    '--kill-every-ms',
    '3000',
    '--max-kills',
    '3',
    '--rate',
    '100',
    '--redis-restarts',
    '1',
    '--bad-every',
    '100',
    '--garbage',
    '5',
    '--seed',
    '7',
  ]);
  const { figure } = reportLines(out);
  assert.is(code, 0, out);
  assert.is(figure('sent'), 1000, out);
  assert.is(figure('lost'), 0, out);
  assert.is(figure('duplicated'), 0, out);
  assert.is(figure('forwarded twice'), 0, out);
  assert.is(figure('unchecked (trimmed)'), 0, out);
  assert.ok(figure('entries checked') >= figure('stored'), 'every stored record is in a stream of an extractor at least: the check read them');
  assert.is(figure('dlq unexpected'), 0, out);
  assert.is(figure('dlq expected (garbage)'), 5);
  assert.is(figure('stored') + figure('dlq bad records'), 1000, 'every record stored or dead-lettered as bad');
  assert.is(figure('kills'), 3, out);
});

test.run();
