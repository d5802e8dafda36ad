/**
 * `pipeline eval` holds at most one chunk (`--chunk`) of products and statuses in Redis, whatever
 * the file's size, and prints the same report as when everything is sent at once. Every product,
 * status and review entry had stayed until the scores were read: a 50,000-row file peaked at
 * 1.1 GB in redis-server (about 5 KB per record sent), a 5,000-row one at 122 MB.
 * The live keys are counted exactly from keyspace notifications (every hset / set / del of the
 * eval's keys, in order), not sampled.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { exited } from '../helpers/pipeline.js';
import { BIN } from '../helpers/bin.js';
import { client, redisForFile } from '../helpers/redis.js';

const REPO = resolve(import.meta.dirname, '../..');
const DATA = resolve(REPO, '../shared/data/products');
const ROWS = 200;
const CHUNK = 40;
const dir = mkdtempSync(join(tmpdir(), 'eval-memory-'));
const { server, redis } = await redisForFile(test);
const events = client(server.url);
const dev = readFileSync(join(DATA, 'dev.jsonl'), 'utf8').trim().split('\n');
writeFileSync(join(dir, 'input.jsonl'), dev.slice(0, ROWS).join('\n') + '\n');
writeFileSync(join(dir, 'train.jsonl'), readFileSync(join(DATA, 'train.jsonl'), 'utf8').split('\n').slice(0, 2000).join('\n') + '\n');
const firstId = (JSON.parse(dev[0]!) as { id: string }).id;

test.after(async () => {
  events.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * Live `{eval-*}:product:*` and `:status:*` keys, the match stage's vectors (entries of the
 * `{eval-*}:vectors:<category>:log` lists: one RPUSH per vector), and the most of each there were at once.
 */
const live = { product: new Set<string>(), status: new Set<string>(), logs: new Map<string, number>(), peak: { product: 0, status: 0, vectors: 0 } };
const vectorsNow = () => [...live.logs.values()].reduce((n, c) => n + c, 0);
await redis.config('SET', 'notify-keyspace-events', 'Kgh$l');
await events.psubscribe('__keyspace@0__:{eval-*}:*');
events.on('pmessage', (_pattern: string, channel: string, event: string) => {
  const key = channel.slice('__keyspace@0__:'.length);
  if (/^\{eval-[^}]+\}:vectors:.*:log$/.test(key)) {
    live.logs.set(key, event === 'rpush' ? (live.logs.get(key) ?? 0) + 1 : event === 'del' ? 0 : (live.logs.get(key) ?? 0));
    live.peak.vectors = Math.max(live.peak.vectors, vectorsNow());
    return;
  }
  const kind = /^\{eval-[^}]+\}:(product|status):/.exec(key)?.[1] as 'product' | 'status' | undefined;
  if (!kind) return;
  if (event === 'del' || event === 'expired') live[kind].delete(key);
  else live[kind].add(key);
  live.peak[kind] = Math.max(live.peak[kind], live[kind].size);
});

/** One eval run's report (stdout) and stderr, with the peak counts of its product and status keys. */
async function evalRun(chunk: number): Promise<{ stdout: string; stderr: string; peak: { product: number; status: number; vectors: number } }> {
  live.peak = { product: 0, status: 0, vectors: 0 };
  const args = ['eval', '--input', 'input.jsonl', '--train', 'train.jsonl', '--slices', 'none', '--timeout', '120000', '--chunk', String(chunk)];
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: dir,
    env: { ...process.env, REDIS_URL: server.url, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  assert.is(await exited(child), 0, stderr);
  // Every keyspace event of the run is in once a PING sent after it answers on the subscriber.
  await events.ping();
  return { stdout, stderr, peak: { ...live.peak } };
}

/** The report without the two timing figures (end-to-end seconds and records/s). */
const figures = (report: string) =>
  report
    .split('\n')
    .map((l) => l.replace(/, [\d.]+ s, [\d.]+ records\/s end to end$/, '').replace(/^throughput: .*$/, 'throughput'))
    .join('\n');

test(`an eval of ${ROWS} rows sent ${CHUNK} at a time holds at most ${CHUNK} products, statuses and match vectors at once; same report as in one chunk`, async () => {
  // Another pipeline's product with an id of the file, and another key: an eval must touch neither.
  await redis.hset(`{products}:product:${firstId}`, 'doc', '{}', 'category', 'audio');
  await redis.sadd('{products}:products', firstId);
  await redis.sadd('{products}:category:audio', firstId);
  await redis.set('{other}:keep', '1');

  const chunked = await evalRun(CHUNK);
  const whole = await evalRun(ROWS * 10);

  // One chunk is what the eval did before --chunk: every record's product and status until the end.
  assert.is(whole.peak.product, ROWS, 'one chunk: every product at once');
  assert.ok(chunked.peak.product > 0, 'the chunked run stored products');
  assert.ok(chunked.peak.product <= CHUNK, `at most ${CHUNK} products at once, saw ${chunked.peak.product}`);
  assert.ok(chunked.peak.status <= CHUNK, `at most ${CHUNK} statuses at once, saw ${chunked.peak.status}`);
  // The match stage's vectors had stayed for the whole run (all ${ROWS}): now each chunk's go with it.
  assert.ok(whole.peak.vectors > CHUNK, `precondition: one chunk holds more than ${CHUNK} vectors, saw ${whole.peak.vectors}`);
  assert.ok(chunked.peak.vectors > 0, 'the chunked run matched records');
  assert.ok(chunked.peak.vectors <= CHUNK, `at most ${CHUNK} vectors at once, saw ${chunked.peak.vectors}`);
  assert.match(chunked.stderr, /"event":"eval.chunk_scored".*"vectorKeysDeleted":[1-9]/);
  assert.is((chunked.stderr.match(/"event":"eval.chunk_scored"/g) ?? []).length, ROWS / CHUNK);
  assert.match(chunked.stdout, new RegExp(`^eval: ${ROWS} records`, 'm'));
  assert.match(chunked.stdout, /^accuracy: 0\.\d{3}$/m);
  assert.is(figures(chunked.stdout), figures(whole.stdout));

  assert.equal(await redis.hgetall(`{products}:product:${firstId}`), { doc: '{}', category: 'audio' });
  assert.ok(await redis.sismember('{products}:products', firstId));
  assert.ok(await redis.sismember('{products}:category:audio', firstId));
  assert.is(await redis.get('{other}:keep'), '1');
  assert.equal(await redis.keys('{eval-*}:*'), []);
});

test.run();
