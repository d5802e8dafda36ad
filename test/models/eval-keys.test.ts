/**
 * `pipeline eval` against a Redis of REDIS_URL deletes its run's `{eval-xxxxxx}` keys when done: after a
 * finished run and after Ctrl-C (a dev-set run had left 5,218 keys, 12 MB, without a TTL).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { exited } from '../helpers/pipeline.js';
import { BIN } from '../helpers/bin.js';
import { redisForFile, waitFor } from '../helpers/redis.js';

const REPO = resolve(import.meta.dirname, '../..');
const DATA = resolve(REPO, '../shared/data/products');
const dir = mkdtempSync(join(tmpdir(), 'eval-keys-'));
const { server, redis } = await redisForFile(test);
const dev = readFileSync(join(DATA, 'dev.jsonl'), 'utf8').split('\n');
writeFileSync(join(dir, 'train.jsonl'), readFileSync(join(DATA, 'train.jsonl'), 'utf8').split('\n').slice(0, 2000).join('\n') + '\n');
const ARGS = ['eval', '--train', 'train.jsonl', '--slices', 'none', '--timeout', '120000'];
const env = { ...process.env, REDIS_URL: server.url, LOG_LEVEL: 'info' };

test.after(async () => {
  rmSync(dir, { recursive: true, force: true });
});

async function evalKeys(): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', '{eval-*}:*', 'COUNT', 1000);
    out.push(...keys);
    cursor = next;
  } while (cursor !== '0');
  return out;
}

test('a finished eval leaves none of its keys', async () => {
  writeFileSync(join(dir, 'small.jsonl'), dev.slice(0, 20).join('\n') + '\n');
  await redis.set('{other}:keep', '1');
  const r = spawnSync(process.execPath, [BIN, ...ARGS, '--input', 'small.jsonl'], { cwd: dir, encoding: 'utf8', env });
  assert.is(r.status, 0, r.stderr);
  // Logged on stderr: stdout is the report alone (test/models/eval-stdout.test.ts).
  assert.match(r.stderr, /"event":"job.keys_deleted".*"keys":[1-9]/);
  assert.not.match(r.stdout, /"event":/);
  assert.equal(await evalKeys(), []);
  assert.is(await redis.get('{other}:keep'), '1', "another pipeline's key was deleted");
});

test('an eval stopped by Ctrl-C (SIGINT) mid-run leaves none of its keys', async () => {
  writeFileSync(join(dir, 'big.jsonl'), dev.slice(0, 2000).join('\n') + '\n');
  const before = new Set(await evalKeys());
  const child = spawn(process.execPath, [BIN, ...ARGS, '--input', 'big.jsonl'], {
    cwd: dir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  try {
    await waitFor('the run wrote keys', async () => (await evalKeys()).some((k) => !before.has(k)), 120_000, 100);
    child.kill('SIGINT');
    assert.is(await exited(child), 130, err);
  } finally {
    child.kill('SIGKILL');
  }
  assert.match(err, /"event":"job.keys_deleted"/);
  assert.not.match(out, /"event":/);
  assert.equal(await evalKeys(), []);
});

test('an eval whose reader stopped early (`pipeline eval 2>&1 | head`) stops as on Ctrl-C and leaves none of its keys (it had died on the closed pipe)', async () => {
  writeFileSync(join(dir, 'mid.jsonl'), dev.slice(0, 300).join('\n') + '\n');
  const before = new Set(await evalKeys());
  const child = spawn(process.execPath, [BIN, ...ARGS, '--input', 'mid.jsonl'], {
    cwd: dir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    await waitFor('the run wrote keys', async () => (await evalKeys()).some((k) => !before.has(k)), 120_000, 100);
    // The reader goes away: the next line the run writes (a log on stderr, the report on stdout) meets a closed pipe.
    child.stdout.destroy();
    child.stderr.destroy();
    assert.is(await exited(child), 130);
  } finally {
    child.kill('SIGKILL');
  }
  assert.equal(await evalKeys(), []);
});

test.run();
