/**
 * A stage `model` that is no model folder under models/ (a misspelt name, remote loading off):
 * `pipeline up` refuses to start with it, `deploy render` (and `--check`) refuses it in the same
 * words, and `pipeline status`, a read-only view, warns on stderr naming the stage, the setting and
 * the value, and still prints the status. Both had passed it silently.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomPipeline, startRedis } from '../helpers/redis.js';
import { BIN, SOURCE_BIN } from '../helpers/bin.js';

const REPO = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'model-name-'));
const server = await startRedis();

test.after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

const config = JSON.parse(readFileSync(join(REPO, 'config/pipeline.json'), 'utf8')) as { pipeline: string; stages: { kind: string; model?: string }[] };
config.pipeline = randomPipeline('model-name');
config.stages.find((s) => s.kind === 'classify')!.model = 'product-categry';
const file = join(dir, 'pipeline.json');
writeFileSync(file, JSON.stringify(config));

// The shipped models folder, remote loading off: as a new user runs it.
const { ALLOW_REMOTE_MODELS: _remote, MODELS_DIR: _dir, ...env } = process.env;

/** `deploy render` is in the sources only (the compiled CLI refuses it): `bin` SOURCE_BIN for it. */
function cli(args: string[], bin = BIN) {
  return spawnSync(process.execPath, [bin, '--config', file, ...args], {
    cwd: REPO,
    encoding: 'utf8',
    env: { ...env, REDIS_URL: server.url, LOG_LEVEL: 'error' },
    timeout: 120_000,
  });
}

/** The line `up` refuses to start with. */
const refusal =
  /^error: (config error at stages\.classify\.model: no model folder \S+product-categry with a config\.json \(models in .*product-category.*\).*)$/m;
const up = cli(['up', '--no-autoscale']);
const upLine = refusal.exec(up.stderr)?.[1];

test('up refuses the misspelt model before any worker starts (the line the others must say)', () => {
  assert.is(up.status, 1, up.stderr);
  assert.ok(upLine, up.stderr);
});

// Only --check: a `deploy render` this check let through would write the repository's deploy/ files (render refuses before either writes or compares).
test('deploy render --check refuses it with the same line, before comparing any file', () => {
  const r = cli(['deploy', 'render', '--check'], SOURCE_BIN);
  assert.is(r.status, 1, `${r.stdout}${r.stderr}`);
  assert.is(refusal.exec(r.stderr)?.[1], upLine, r.stderr);
  assert.is(r.stdout, '', 'nothing compared');
});

test('status warns with the same line, naming the stage, the setting and the value, and still prints the status', () => {
  const r = cli(['status']);
  assert.is(r.status, 0, r.stderr);
  assert.ok(r.stderr.includes(`warning: ${upLine}\n`), r.stderr);
  assert.match(r.stdout, new RegExp(`^pipeline ${config.pipeline} `));
});

test.run();
