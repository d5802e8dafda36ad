import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const ROOT = resolve(import.meta.dirname, '../..');

test('npm run bench -- --quick --workers 2 prints a table of medians and ends with the five contract lines', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-test-'));
  const json = join(dir, 'bench.json');
  try {
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        join(ROOT, 'bench/index.ts'),
        '--quick',
        '--records',
        '2000',
        '--model-records',
        '300',
        '--latency-seconds',
        '0.5',
        '--workers',
        '2',
        '--json',
        json,
      ],
      { cwd: ROOT, encoding: 'utf8', timeout: 90_000, env: { ...process.env, LOG_LEVEL: 'error' } },
    );
    const out = r.stdout + r.stderr;
    assert.is(r.status, 0, out);
    const lines = r.stdout.trimEnd().split('\n');
    // The summary ends with exactly these five lines (issue 17's contract).
    const na = String.raw`n\/a \((not built|skipped|failed)\)`;
    assert.match(lines.at(-5)!, /^transport: \d+\.\d{2}x$/, out);
    assert.match(lines.at(-4)!, new RegExp(String.raw`^model: (\d+\.\d{2}x|${na})$`), out);
    assert.match(lines.at(-3)!, new RegExp(String.raw`^model cpu: (\d+\.\d{2}x|${na})$`), out);
    assert.match(lines.at(-2)!, /^latency p99: \d+ ms$/, out);
    assert.match(lines.at(-1)!, new RegExp(String.raw`^model latency p99: (\d+ ms|${na})$`), out);
    // A table with a header and project/baseline columns, a transport and latency rows.
    assert.match(r.stdout, /^measure \(median of runs\)\s+project\s+baseline\s+project\/baseline$/m);
    assert.match(r.stdout, /^transport records\/s \(2,000 x 3 stages\)\s+[\d,]+\s+[\d,]+\s+\d+\.\d{2}x$/m);
    assert.match(r.stdout, /^latency p99 ms\s+[\d.]+\s+[\d.]+$/m);
    assert.match(r.stdout, /^transport project\/baseline per pair of runs: \d+\.\d{2}x \(median \d+\.\d{2}x; project faster in [01] of 1\)$/m);
    // The three transport stages share a process by default: 3 readers + 1 command connection.
    assert.match(r.stdout, /^peak RSS \/ connections per process, transport project: .*s1\+s2\+s3 \d+ MB\/4c/m);
    assert.ok(existsSync(json), 'the JSON file is written');
    type Run = { stages: { stage: string; processes: number }[] };
    const data = JSON.parse(readFileSync(json, 'utf8')) as { transport: { project: Run[]; baseline: Run[] }; ratios: { transport: number } };
    assert.is(data.transport.project.length, 1);
    assert.is(data.transport.baseline.length, 1);
    for (const side of [data.transport.project[0]!, data.transport.baseline[0]!]) {
      assert.equal(
        side.stages.map((s) => [s.stage, s.processes]),
        [['s1+s2+s3', 2]],
        '--workers 2: two processes, each running the three stages',
      );
    }
    assert.ok(data.ratios.transport > 0);
    // Both sides of the model comparison do the same work: every record gives the same fields
    // (category, group, brand, model number, attributes) in the pipeline and in the bare loop.
    if (!/^model: n\/a/m.test(r.stdout))
      assert.match(r.stderr + r.stdout, /models outputs: (\d+) of \1 records give the same fields in the pipeline and the bare loop$/m, out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
