/**
 * `pipeline eval` and `pipeline start` check what `pipeline up` checks before any worker starts
 * (module stages load, model folders are there), and stop at once, naming the process and the
 * worker log, when a worker crash-loops (they had waited out their whole --timeout, then said
 * "pipeline not idle").
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FAST, oneStageToOut } from '../helpers/pipeline.js';
import { BIN } from '../helpers/bin.js';
import { randomPipeline, startRedis } from '../helpers/redis.js';

const REPO = resolve(import.meta.dirname, '../..');
const DATA = resolve(REPO, '../shared/data/products');
const dir = mkdtempSync(join(tmpdir(), 'job-checks-'));
const server = await startRedis();

test.after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, REDIS_URL: server.url, LOG_LEVEL: 'error', ...env },
    timeout: 300_000,
  });
  return { ...r, ms: Date.now() - t0 };
}

test('eval with a models folder that lacks the classifier: one error naming the stage before any worker starts', () => {
  const rows = readFileSync(join(DATA, 'dev.jsonl'), 'utf8').split('\n').slice(0, 5).join('\n') + '\n';
  writeFileSync(join(dir, 'five.jsonl'), rows);
  const empty = mkdtempSync(join(dir, 'models-'));
  const r = cli(['eval', '--input', 'five.jsonl', '--train', 'five.jsonl', '--slices', 'none', '--timeout', '60000'], { MODELS_DIR: empty });
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, /stages\.\w+\.model: no model folder/);
  assert.not.match(r.stderr, /not idle/);
  assert.ok(r.ms < 45_000, `took ${r.ms} ms`);
});

test('start with a worker that crashes at start: stops on the crash loop, naming the stage and the worker log', () => {
  writeFileSync(join(dir, 'crash.mjs'), "export function createStage() { throw new Error('broken at start'); }\n");
  const config = {
    ...oneStageToOut(randomPipeline('crash'), 'module:./crash.mjs', FAST),
    supervisor: { restartBaseMs: 50, restartMaxMs: 100, crashLoopAfter: 2 },
  };
  const file = join(dir, 'crash.json');
  writeFileSync(file, JSON.stringify(config));
  writeFileSync(join(dir, 'in.jsonl'), JSON.stringify({ id: 'a', title: 'a thing' }) + '\n');
  const r = cli(['--config', file, 'start', '--input', 'in.jsonl', '--timeout', '90000']);
  assert.is(r.status, 1, r.stderr);
  const m = /error: the worker of stage work crashed (\d+) times in a row .*crash loop.*worker logs: (\S+)/.exec(r.stderr);
  assert.ok(m, r.stderr);
  assert.ok(Number(m![1]) >= 2);
  assert.match(readFileSync(m![2]!, 'utf8'), /broken at start/, 'the log named holds the crash');
  assert.ok(r.ms < 60_000, `took ${r.ms} ms`);
});

test.run();
