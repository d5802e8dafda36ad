/**
 * `pipeline start` as a user runs it, against a real Redis (REDIS_URL set: no redis-server of its
 * own) with the rules-only stages: an explicit `--input` is relative to the current directory even
 * when spelt like the default (it had read the package's data/sample.jsonl); `--serve` binds its
 * port before the job runs (a port in use was found after the whole run and its summary).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BIN, writeConfig } from './helpers/pipeline.js';
import { randomPipeline, startRedis } from './helpers/redis.js';

const dir = mkdtempSync(join(tmpdir(), 'start-cli-'));
const server = await startRedis();

/** `pipeline start <args>` from `cwd`, to its end (bounded by `timeoutMs`). */
function start(args: string[], cwd = dir, timeoutMs = 120_000, logLevel = 'warn') {
  return spawnSync(process.execPath, [BIN, '--config', writeConfig(randomPipeline()), 'start', '--timeout', '60000', ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, REDIS_URL: server.url, LOG_LEVEL: logLevel },
    timeout: timeoutMs,
  });
}

const lines = (n: number) => Array.from({ length: n }, (_, i) => JSON.stringify({ id: `r${i}`, title: `item ${i}`, mpn: `M${i}` })).join('\n') + '\n';

test('an explicit --input spelt like the default (data/sample.jsonl) is read from the current directory, not the package', () => {
  const cwd = join(dir, 'wd');
  mkdirSync(join(cwd, 'data'), { recursive: true });
  writeFileSync(join(cwd, 'data', 'sample.jsonl'), lines(2));
  for (const input of ['data/sample.jsonl', './data/sample.jsonl']) {
    const r = start(['--input', input], cwd);
    assert.is(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^ {2}produced {3}2$/m, `${input}: ${r.stdout}`);
  }
});

test('--serve on a port in use fails before anything is produced, with one error line (as up --serve)', async () => {
  const busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  try {
    const port = (busy.address() as { port: number }).port;
    writeFileSync(join(dir, 'three.jsonl'), lines(3));
    // The port is held (bound) while spawnSync blocks this process.
    const r = start(['--input', 'three.jsonl', '--serve', '--port', String(port)], dir, 120_000, 'info');
    assert.is(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr, new RegExp(`^error: listen EADDRINUSE: address already in use 127\\.0\\.0\\.1:${port}$`, 'm'));
    assert.not.match(r.stderr, /"event":"start\.produced"/, 'the job ran before the port was tried');
    assert.not.match(r.stdout, /produced/);
  } finally {
    busy.close();
  }
});

test.after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});
test.run();
