/**
 * Extension points (docs/extending.md): a stage kind and a sink from the user's own modules
 * (`module:<path>`, relative to the config file), checked at load, and the example in
 * examples/price-normaliser run end to end by real `pipeline worker` processes on a real Redis.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import { ConfigError } from '../../lib/core/errors.js';
import { Keys } from '../../lib/redis/keys.js';
import { loadModuleStages } from '../../lib/worker/modules.js';
import type { StageContext } from '../../lib/worker/stage.js';
import { createStore } from '../../stages/store.js';
import { STAGES } from '../../stages/index.js';
import { cli, exited } from '../helpers/pipeline.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';

const EXAMPLE = resolve(import.meta.dirname, '../../examples/price-normaliser');
const dir = mkdtempSync(join(tmpdir(), 'extending-'));
const write = (name: string, text: string) => writeFileSync(join(dir, name), text);

/** A config file in `dir` whose middle stage is `kind`, and optionally a store sink. */
function configWith(kind: string, sink = 'redis'): string {
  const file = join(dir, `pipeline-${Math.random().toString(36).slice(2)}.json`);
  const raw = {
    pipeline: randomPipeline(),
    stages: [
      { name: 'preprocess', kind: 'preprocess', input: 'in' },
      { name: 'price', kind },
      { name: 'store', kind: 'store', settings: { sink } },
    ],
    routes: { preprocess: [{ to: 'price' }], price: [{ to: 'store' }] },
  };
  writeFileSync(file, JSON.stringify(raw));
  return file;
}
const load = (file: string) => resolveConfig(JSON.parse(readFileSync(file, 'utf8')), file, { env: {}, knownKinds: Object.keys(STAGES) });
const configError = async (p: Promise<unknown> | (() => unknown), where: RegExp, why: RegExp) => {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    assert.instance(err, ConfigError);
    assert.match((err as Error).message, where);
    assert.match((err as Error).message, why);
    return;
  }
  assert.unreachable('expected a ConfigError');
};
const ctxOf = (file: string, stage: string) => {
  const config = load(file);
  return { config, stage: config.stages.find((s) => s.name === stage)!, keys: new Keys(config.pipeline) } as unknown as StageContext;
};

test('module: kinds pass config validation; unknown built-in kinds still fail and say how to add one', async () => {
  write('ok.mjs', "export function createStage() { return { kind: 'x', async process(b) { return b.map(() => ({ ok: true, output: {} })); } }; }\n");
  const config = load(configWith('module:./ok.mjs'));
  const kinds = await loadModuleStages(config);
  assert.equal(Object.keys(kinds), ['module:./ok.mjs']);
  const stage = kinds['module:./ok.mjs']!(ctxOf(configWith('module:./ok.mjs'), 'price'));
  assert.is(stage.kind, 'x');
  await configError(() => load(configWith('prize')), /stages\[1\]\.kind/, /unknown stage kind "prize".*module:<path>/);
});

test('a module that lacks createStage, fails to import, or returns no Stage is a ConfigError naming the stage', async () => {
  write('empty.mjs', 'export const something = 1;\n');
  await configError(
    loadModuleStages(load(configWith('module:./empty.mjs'))),
    /stages\.price\.kind/,
    /must export a function createStage\(ctx\).*exports something/,
  );
  await configError(loadModuleStages(load(configWith('module:./missing.mjs'))), /stages\.price\.kind/, /cannot load module:\.\/missing\.mjs/);
  // This test's folder is outside the checkout, as a user's own module folder is.
  write(
    'outside.mjs',
    "import { ok } from 'streamline-enrich';\nexport function createStage() { return { kind: 'x', async process(b) { return b.map(() => ok({})); } }; }\n",
  );
  await configError(
    loadModuleStages(load(configWith('module:./outside.mjs'))),
    /stages\.price\.kind/,
    /Cannot find package 'streamline-enrich'.*npm install <this checkout> there, or npm link; docs\/extending\.md/,
  );
  write('nostage.mjs', "export default function () { return { kind: 'x', init: 3 }; }\n");
  const file = configWith('module:./nostage.mjs');
  const kinds = await loadModuleStages(load(file));
  await configError(() => kinds['module:./nostage.mjs']!(ctxOf(file, 'price')), /stages\.price\.kind/, /not a Stage.*process\(batch\).*init/);
});

test('a stage or sink factory that throws is a ConfigError naming the stage and the module, with what it threw', async () => {
  // `ctx.settings` for `ctx.stage.settings`: a bare "Cannot read properties of undefined" named neither.
  write('throws.mjs', 'export function createStage(ctx) { return { kind: String(ctx.settings.field), async process(b) { return []; } }; }\n');
  const file = configWith('module:./throws.mjs');
  const kinds = await loadModuleStages(load(file));
  await configError(
    () => kinds['module:./throws.mjs']!(ctxOf(file, 'price')),
    /stages\.price\.kind/,
    /module:\.\/throws\.mjs: createStage\(ctx\) threw TypeError: Cannot read properties of undefined/,
  );
  write('throwsink.mjs', "export function createSink() { throw new RangeError('no file given'); }\n");
  const store = createStore(ctxOf(configWith('preprocess', 'module:./throwsink.mjs'), 'store'));
  await configError(store.init!(), /stages\.store\.settings\.sink/, /module:\.\/throwsink\.mjs: createSink\(ctx\) threw RangeError: no file given/);
});

test('a sink module that lacks write/close (or says concurrentShards other than true or false) is a ConfigError naming the store stage, at init', async () => {
  write('badsink.mjs', "export function createSink() { return { name: 'bad' }; }\n");
  const store = createStore(ctxOf(configWith('preprocess', 'module:./badsink.mjs'), 'store'));
  await configError(store.init!(), /stages\.store\.settings\.sink/, /not a Sink.*write\(products\).*close\(\)/);
  write('yessink.mjs', "export function createSink() { return { name: 'yes', concurrentShards: 'yes', write: async () => {}, close: async () => {} }; }\n");
  const yes = createStore(ctxOf(configWith('preprocess', 'module:./yessink.mjs'), 'store'));
  await configError(yes.init!(), /stages\.store\.settings\.sink/, /not a Sink.*concurrentShards \(boolean, if given\)/);
  await configError(
    () => createStore(ctxOf(configWith('preprocess', 'nosuch'), 'store')),
    /stages\.store\.settings\.sink/,
    /unknown sink "nosuch".*module:<path>/,
  );
});

test('pipeline worker and pipeline up refuse a broken stage module at start with the reason, exit 1 (no crash loop)', async () => {
  for (const args of [['worker', 'price'], ['up']]) {
    const child = cli(['-c', configWith('module:./empty.mjs'), ...args], 'redis://127.0.0.1:1');
    assert.is(await exited(child), 1, args.join(' '));
    assert.match(child.output(), /stages\.price\.kind: module:\.\/empty\.mjs must export a function createStage/, args.join(' '));
  }
});

test('pipeline up refuses a model name that is no folder (a typo) before starting anything, naming the stage (it had restarted the worker 9 times in 45 s)', async () => {
  const file = join(dir, 'typo-model.json');
  writeFileSync(
    file,
    JSON.stringify({
      pipeline: randomPipeline(),
      stages: [
        { name: 'preprocess', kind: 'preprocess', input: 'in' },
        { name: 'classify', kind: 'classify', model: 'product-categroy' },
        { name: 'store', kind: 'store' },
      ],
      routes: { preprocess: [{ to: 'classify' }], classify: [{ to: 'store' }] },
    }),
  );
  const child = cli(['-c', file, 'up'], 'redis://127.0.0.1:1');
  assert.is(await exited(child), 1);
  assert.match(child.output(), /stages\.classify\.model: no model folder \S*product-categroy .*models in \S+: .*product-category/);
});

test('examples/price-normaliser runs end to end from its own folder: module stage and module sink, bad price dead-lettered', async () => {
  const server = await startRedis();
  const redis = client(server.url);
  const pipeline = randomPipeline('price');
  const out = join(dir, 'prices.jsonl');
  const env = { PIPELINE: pipeline, PRICE_EXAMPLE_OUT: out };
  const config = join(EXAMPLE, 'pipeline.json');
  const withEnv = (args: string[]) => {
    Object.assign(process.env, env);
    try {
      return cli(['-c', config, ...args], server.url);
    } finally {
      for (const k of Object.keys(env)) delete process.env[k];
    }
  };
  const workers = ['preprocess', 'price', 'store'].map((s) => withEnv(['worker', s]));
  try {
    const producer = withEnv(['produce', '--rejects', join(dir, 'rejects.jsonl'), join(EXAMPLE, 'products.jsonl')]);
    assert.is(await exited(producer), 0, producer.output());
    const keys = new Keys(pipeline);
    const lines = () => (existsSync(out) ? readFileSync(out, 'utf8').trim().split('\n').filter(Boolean) : []);
    await waitFor('4 products in the sink and 1 dead letter', async () => lines().length >= 4 && (await redis.xlen(keys.dlq)) >= 1, 30_000, 100);
    const byKey = Object.fromEntries(
      lines()
        .map((l) => JSON.parse(l) as { key: string; price: unknown })
        .map((r) => [r.key, r.price]),
    );
    assert.equal(byKey, {
      p1: { amount: 1299, currency: 'EUR' },
      p2: { amount: 12.5, currency: 'USD' },
      p3: { amount: 12.5, currency: 'GBP' },
      p4: { amount: 1299.99, currency: 'USD' },
    });
    const [[, fields]] = (await redis.xrange(keys.dlq, '-', '+')) as [string, string[]][] as [[string, string[]]];
    const dl = Object.fromEntries(fields.flatMap((v, i) => (i % 2 === 0 ? [[v, fields[i + 1]]] : [])));
    assert.is(dl.stage, 'price');
    assert.is(dl.reason, 'permanent_error', 'a BadRecordError from the user module dead-letters at once');
    assert.match(String(dl.error), /price: cannot read "call us"/);
    assert.is(dl.k, 'p5');
  } finally {
    for (const w of workers) w.kill('SIGTERM');
    await Promise.all(workers.map(exited));
    redis.disconnect();
    await server.close();
  }
});

test('the runtime is importable as a library: every export resolves (to the sources here) and names its compiled twin', async () => {
  const lib = await import('streamline-enrich');
  assert.type(lib.Worker, 'function');
  assert.type(lib.produce, 'function');
  assert.type(lib.compileRoutes, 'function');
  assert.type(lib.loadModuleStages, 'function');
  assert.type((await import('streamline-enrich/worker')).Worker, 'function');
  assert.type((await import('streamline-enrich/producer')).produce, 'function');
  assert.type((await import('streamline-enrich/router')).compileRules, 'function');
  assert.ok('preprocess' in (await import('streamline-enrich/stages')).STAGES);
  const pkg = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../package.json'), 'utf8')) as {
    exports: Record<string, string | Record<string, string>>;
  };
  for (const [name, e] of Object.entries(pkg.exports)) {
    if (typeof e === 'string') continue;
    const src = e.source!.replace(/^\.\//, '');
    assert.ok(existsSync(resolve(import.meta.dirname, '../..', src)), `${name}: ${src} exists`);
    assert.is(e.default, `./dist/${src.replace(/\.ts$/, '.js')}`, `${name}: default is the compiled source`);
    assert.is(e.types, `./dist/${src.replace(/\.ts$/, '.d.ts')}`, `${name}: types are the compiled declarations`);
  }
});

test.run();
