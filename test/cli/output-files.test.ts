/**
 * Output files a command is told to write (`export --out`, `labels export --out`, `acl
 * --write-env`, `eval --json` / `--dump`), against a real Redis: one it cannot write (its folder
 * missing, or a folder given for a file) is one error line naming the option, the path and why,
 * exit 1, before anything is read or run. Each had failed afterwards (eval's after its whole run)
 * with a bare `ENOENT: no such file or directory, open '<path>'` (export's naming a
 * `<path>.partial` the user never gave) or `EISDIR`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BIN, writeConfig } from '../helpers/pipeline.js';
import { randomPipeline, startRedis } from '../helpers/redis.js';

const server = await startRedis();
const dir = mkdtempSync(join(tmpdir(), 'output-files-'));
const config = writeConfig(randomPipeline());

function run(args: string[]) {
  return spawnSync(process.execPath, [BIN, '--config', config, ...args], {
    encoding: 'utf8',
    env: { ...process.env, REDIS_URL: server.url, LOG_LEVEL: 'warn' },
    timeout: 60_000,
  });
}

const commands: [string, string[], string][] = [
  ['export', ['export'], '--out'],
  ['labels export', ['labels', 'export'], '--out'],
  ['acl', ['acl'], '--write-env'],
];

for (const [name, args, option] of commands) {
  test(`${name} ${option} in a folder that does not exist: named, with the folder, exit 1 (it was a bare ENOENT)`, () => {
    const file = join(dir, 'no-such-folder', 'x.jsonl');
    const r = run([...args, option, file]);
    assert.is(r.status, 1, r.stdout + r.stderr);
    assert.is(r.stderr, `error: ${option} ${file}: cannot write there (folder ${join(dir, 'no-such-folder')}: ENOENT)\n`);
    assert.is(r.stdout, '');
    assert.not.ok(existsSync(join(dir, 'no-such-folder')));
  });

  test(`${name} ${option} naming a folder: said so, exit 1`, () => {
    const r = run([...args, option, dir]);
    assert.is(r.status, 1, r.stdout + r.stderr);
    assert.is(r.stderr, `error: ${option} ${dir}: a directory, not a file\n`);
  });
}

test('eval --json / --dump it cannot write: named before the run, no worker started (the whole run went first, then a bare ENOENT)', () => {
  const rows = ['SanDisk Ultra 64GB USB 3.0 Flash Drive SDCZ48-064G-A46', 'Koss EQ50 3-Band Stereo Equalizer'].map((title, i) =>
    JSON.stringify({ id: `r${i}`, title, category: i === 0 ? 'storage' : 'audio' }),
  );
  const labelled = join(dir, 'labelled.jsonl');
  writeFileSync(labelled, rows.join('\n') + '\n');
  const missing = join(dir, 'no-such-folder', 'report.json');
  for (const [option, file, why] of [
    ['--json', missing, `cannot write there (folder ${join(dir, 'no-such-folder')}: ENOENT)`],
    ['--dump', dir, 'a directory, not a file'],
  ] as const) {
    const r = spawnSync(process.execPath, [BIN, 'eval', '--input', labelled, '--train', labelled, '--slices', 'none', option, file], {
      encoding: 'utf8',
      env: { ...process.env, REDIS_URL: server.url, LOG_LEVEL: 'info' },
      timeout: 120_000,
    });
    assert.is(r.status, 1, r.stdout + r.stderr);
    assert.ok(r.stderr.includes(`error: ${option} ${file}: ${why}\n`), r.stderr);
    assert.not.match(r.stderr, /supervisor\.started/);
    assert.not.match(r.stdout, /accuracy/);
  }
});

test('a writable --out is written as before', () => {
  const file = join(dir, 'labels.jsonl');
  const r = run(['labels', 'export', '--out', file]);
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.ok(existsSync(file));
});

test.after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});
test.run();
