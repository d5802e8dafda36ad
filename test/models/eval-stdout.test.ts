/**
 * `pipeline eval > report.txt`: stdout holds the report alone. The job's and the supervisor's JSON
 * log lines (`job.redis_started`, `supervisor.started`, ...) had been written to stdout among the
 * report's lines unless LOG_LEVEL=error, so a script reading the report (the held-out set's
 * `accuracy:` line) got them too. They go to stderr, at any LOG_LEVEL.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BIN } from '../helpers/bin.js';

const REPO = resolve(import.meta.dirname, '../..');
const DATA = resolve(REPO, '../shared/data/products');
/** How long one eval run may take before the test fails (ms); the run itself gives up after its `--timeout`, 120000. */
const RUN_DEADLINE_MS = 300_000;
const dir = mkdtempSync(join(tmpdir(), 'eval-stdout-'));
writeFileSync(join(dir, 'input.jsonl'), readFileSync(join(DATA, 'dev.jsonl'), 'utf8').split('\n').slice(0, 20).join('\n') + '\n');
writeFileSync(join(dir, 'train.jsonl'), readFileSync(join(DATA, 'train.jsonl'), 'utf8').split('\n').slice(0, 2000).join('\n') + '\n');

test.after(() => rmSync(dir, { recursive: true, force: true }));

/** A line that parses as a JSON log event (an object with `event`). */
function isLogEvent(line: string): boolean {
  try {
    const v: unknown = JSON.parse(line);
    return typeof v === 'object' && v !== null && 'event' in v;
  } catch {
    return false;
  }
}

for (const level of ['info', 'debug']) {
  test(`LOG_LEVEL=${level}: stdout is the report alone, the logs are on stderr`, () => {
    // Without REDIS_URL: eval starts its own redis-server (job.redis_started) and its workers (supervisor.*).
    const { REDIS_URL: _r, ...env } = process.env;
    const r = spawnSync(
      process.execPath,
      [BIN, 'eval', '--input', 'input.jsonl', '--train', 'train.jsonl', '--slices', 'none', '--timeout', '120000'],
      { cwd: dir, encoding: 'utf8', env: { ...env, LOG_LEVEL: level }, timeout: RUN_DEADLINE_MS },
    );
    assert.is(r.status, 0, r.stderr);
    const lines = r.stdout.split('\n').filter((l) => l.trim() !== '');
    const logs = lines.filter(isLogEvent);
    assert.equal(logs, [], 'JSON log lines in the report on stdout');
    assert.match(lines[0] ?? '', /^eval: 20 records/);
    assert.match(r.stdout, /^accuracy: 0\.\d{3}$/m);
    // The logs are not dropped: on stderr.
    assert.match(r.stderr, /"event":"job\.redis_started"/);
    assert.match(r.stderr, /"event":"supervisor\.started"/);
  });
}

test.run();
