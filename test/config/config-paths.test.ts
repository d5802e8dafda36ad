/**
 * Paths in a config file are relative to the file's folder (docs/configuration.md#paths): a
 * relative `settings.modelsDir` had been read from the current directory, so `pipeline worker`
 * run from anywhere but the config's folder found no model.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfigFile, resolveConfig } from '../../lib/config/load.js';
import { decodeEnvelope, encodeEnvelope, entryFields, FIELD_ENVELOPE, FIELD_KEY, newEnvelope } from '../../lib/stream/codec.js';
import { Keys } from '../../lib/redis/keys.js';
import { checkModelFolder, stageModelVersion } from '../../stages/domain/model-options.js';
import { KIND_CHECKS } from '../../stages/kinds.js';
import { BIN, exited } from '../helpers/pipeline.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';

const REPO_MODELS = resolve(import.meta.dirname, '../../models');
const dir = mkdtempSync(join(tmpdir(), 'config-paths-'));
/** The config's folder, with the model folder `models/extract-electronics` beside the config file. */
const confDir = join(dir, 'etc', 'pipeline');
/** Where the commands run from: not the config's folder. */
const elsewhere = join(dir, 'elsewhere');
mkdirSync(join(confDir, 'models'), { recursive: true });
mkdirSync(elsewhere);
symlinkSync(join(REPO_MODELS, 'extract-electronics'), join(confDir, 'models', 'extract-electronics'));

function writeConf(pipeline: string): string {
  const file = join(confDir, `${pipeline}.json`);
  const raw = {
    pipeline,
    input: 'in',
    streams: { terminal: ['out'] },
    defaults: { blockMs: 50, drainTimeoutMs: 5_000 },
    stages: [
      { name: 'extract', kind: 'extract', input: 'in', model: 'extract-electronics', settings: { modelsDir: './models' } },
      { name: 'match', kind: 'match', input: 'm', settings: { modelsDir: '/opt/models', index: { dir: 'spill' } } },
    ],
    routes: { extract: [{ to: 'm' }], match: [{ to: 'out' }] },
  };
  writeFileSync(file, JSON.stringify(raw));
  return file;
}

test('relative modelsDir and index.dir are resolved against the config file, absolute ones kept; a config given inline uses the current directory', () => {
  const config = loadConfigFile(writeConf(randomPipeline('cp')), { env: {}, ...KIND_CHECKS });
  const [extract, match] = config.stages as [(typeof config.stages)[0], (typeof config.stages)[0]];
  assert.is(extract.settings.modelsDir, join(confDir, 'models'));
  assert.equal(match.settings, { modelsDir: '/opt/models', index: { dir: join(confDir, 'spill') } });
  // The model is found, and versioned from its files, from wherever this process runs.
  assert.not.throws(() => checkModelFolder(extract, {}));
  assert.match(stageModelVersion(extract, {}) ?? '', /^extract-electronics@sha256:[0-9a-f]{16}$/);
  const inline = resolveConfig(
    { stages: [{ name: 'extract', kind: 'extract', input: 'in', settings: { modelsDir: 'm' } }], routes: { extract: [{ to: 'review' }] } },
    '<inline>',
    { env: {}, ...KIND_CHECKS },
  );
  assert.is(inline.stages[0]!.settings.modelsDir, resolve('m'));
  // A module stage's modelsDir is read by the pipeline too (model check, reprocess's versions); its own settings are its own.
  const own = resolveConfig(
    {
      stages: [{ name: 'tag', kind: 'module:./tag.mjs', input: 'in', model: 'extract-electronics', settings: { modelsDir: 'models', file: './x' } }],
      routes: { tag: [{ to: 'review' }] },
    },
    join(confDir, 'own.json'),
    { env: {}, ...KIND_CHECKS },
  );
  assert.equal(own.stages[0]!.settings, { modelsDir: join(confDir, 'models'), file: './x' });
});

test('pipeline worker run from another folder loads the model from the config-relative modelsDir and stamps its content version', async () => {
  const server = await startRedis();
  const redis = client(server.url);
  const pipeline = randomPipeline('cp');
  const file = writeConf(pipeline);
  const env: NodeJS.ProcessEnv = { ...process.env, REDIS_URL: server.url, LOG_LEVEL: 'info' };
  delete env.MODELS_DIR;
  const worker = spawn(process.execPath, [BIN, '--config', file, 'worker', 'extract'], { cwd: elsewhere, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  worker.stdout.on('data', (d: Buffer) => (out += d.toString()));
  worker.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const keys = new Keys(pipeline);
  try {
    const env1 = newEnvelope({ id: 'p1', title: 'Sony WH-1000XM4 wireless headphones', mpn: 'WH1000XM4' });
    await redis.xadd(keys.stream('in'), '*', FIELD_KEY, 'p1', FIELD_ENVELOPE, encodeEnvelope(env1));
    await waitFor(
      'the record on stream m',
      async () => {
        if (worker.exitCode !== null) throw new Error(`the worker exited with ${worker.exitCode}: ${out.slice(-1500)}`);
        return (await redis.xlen(keys.stream('m'))) >= 1;
      },
      60_000,
      100,
    );
    const [[, fields]] = (await redis.xrangeBuffer(keys.stream('m'), '-', '+')) as unknown as [[Buffer, Buffer[]]];
    const outputs = decodeEnvelope(entryFields(fields).payload!).outputs.extract as { modelVersion?: string };
    assert.match(outputs.modelVersion ?? '', /^extract-electronics@sha256:[0-9a-f]{16}$/);
  } finally {
    worker.kill('SIGTERM');
    await exited(worker);
    redis.disconnect();
    await server.close();
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
