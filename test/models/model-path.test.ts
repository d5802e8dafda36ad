/**
 * Two models of one name in two folders (two stages of one process with their own `modelsDir`, a
 * reload after MODELS_DIR changed): each load gets the files of the folder it names. The loader had
 * set transformers.js's global `env.localModelPath` and loaded by name, and transformers.js reads
 * that path only after an await and shares an in-flight load of the same name: loaded at once,
 * both got the folder set last (config, tokenizer and ONNX). Also: a file of that name in
 * transformers.js's file cache does not stand in for the folder, and a hub id still goes to the hub
 * (a local HTTP server as the hub), also while a local model loads at once.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { env } from '@huggingface/transformers';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_MODEL_PATH, loadModel, type LoadedModel } from '../../lib/models/loader.js';
import { cli, exited, FAST } from '../helpers/pipeline.js';
import { randomPipeline, startRedis, waitFor } from '../helpers/redis.js';

const root = mkdtempSync(join(tmpdir(), 'model-path-'));
const TEXT = 'Apple MacBook Pro 14 M3 16GB 512GB SSD A2918';
const saved = { cacheDir: env.cacheDir, remoteHost: env.remoteHost };

/**
 * `models/<src>` copied to `<root>/<tag>/<as>`, told apart by its labels (`<tag>:` before each) and
 * its tokenizer's `model_max_length`; `relabel` rewrites each label instead.
 */
function copyModel(tag: string, src: string, as: string, maxLength: number, relabel = (l: string) => `${tag}:${l}`): string {
  const dir = join(root, tag);
  const folder = join(dir, as);
  mkdirSync(dir, { recursive: true });
  cpSync(join(DEFAULT_MODEL_PATH, src), folder, { recursive: true });
  const config = JSON.parse(readFileSync(join(folder, 'config.json'), 'utf8')) as { id2label: Record<string, string>; label2id?: unknown };
  for (const k of Object.keys(config.id2label)) config.id2label[k] = relabel(config.id2label[k]!);
  config.label2id = Object.fromEntries(Object.entries(config.id2label).map(([k, v]) => [v, Number(k)]));
  writeFileSync(join(folder, 'config.json'), JSON.stringify(config));
  const tok = JSON.parse(readFileSync(join(folder, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(folder, 'tokenizer_config.json'), JSON.stringify({ ...tok, model_max_length: maxLength }));
  return dir;
}

// Same name, different files: A is extract-electronics, B extract-computing (same architecture, other weights).
const A = copyModel('A', 'extract-electronics', 'tagger', 100);
const B = copyModel('B', 'extract-computing', 'tagger', 120);

async function logits(m: LoadedModel): Promise<number[]> {
  return [...((await m.run(m.tokenize([TEXT]), 'logits')).data as Float32Array)];
}

/** What a loaded model got: the first label (config.json), model_max_length (tokenizer) and its logits (the ONNX file). */
async function what(m: LoadedModel): Promise<{ label: string; maxLength: number; logits: number[] }> {
  return { label: m.labels[0]!, maxLength: m.tokenizer.model_max_length, logits: await logits(m) };
}

const ONNX: Record<string, number[]> = {};
test.before(async () => {
  // The ONNX of each copy, loaded under its own unique name from the shipped folder.
  for (const [tag, src] of [
    ['A', 'extract-electronics'],
    ['B', 'extract-computing'],
  ] as const) {
    const m = await loadModel(src, 'token-classification', { warmup: false });
    ONNX[tag] = await logits(m);
    await m.close();
  }
  assert.not.equal(ONNX.A, ONNX.B, 'the two ONNX files give different logits');
});

test.after(() => {
  Object.assign(env, saved);
  rmSync(root, { recursive: true, force: true });
});

function assertFrom(got: { label: string; maxLength: number; logits: number[] }, tag: 'A' | 'B', what: string): void {
  assert.equal(
    { label: got.label.split(':')[0], maxLength: got.maxLength, onnx: (['A', 'B'] as const).find((t) => got.logits.join() === ONNX[t]!.join()) ?? 'other' },
    { label: tag, maxLength: tag === 'A' ? 100 : 120, onnx: tag },
    `${what}: config.json, tokenizer and ONNX of folder ${tag}`,
  );
}

async function load(dir: string): Promise<LoadedModel> {
  return loadModel('tagger', 'token-classification', { localModelPath: dir, warmup: false });
}

test('two folders, one model name, loaded at once: each load gets the files of its own folder', async () => {
  const [a, b] = await Promise.all([load(A), load(B)]);
  assertFrom(await what(a), 'A', 'the load from A');
  assertFrom(await what(b), 'B', 'the load from B');
  await Promise.all([a.close(), b.close()]);
});

test('one after the other, both orders, and a reload after the folder changed', async () => {
  for (const order of [
    [A, B, A],
    [B, A, B],
  ]) {
    for (const dir of order) {
      const m = await load(dir);
      assertFrom(await what(m), dir === A ? 'A' : 'B', `loaded from ${dir} (order ${order.map((d) => (d === A ? 'A' : 'B')).join(',')})`);
      await m.close();
    }
  }
});

test("a file of the same name in transformers.js's file cache (a hub download) does not stand in for the folder", async () => {
  const cache = join(root, 'cache');
  cpSync(join(B, 'tagger'), join(cache, 'tagger'), { recursive: true });
  env.cacheDir = cache;
  try {
    const m = await load(A);
    assertFrom(await what(m), 'A', 'the load from A with a cached tagger of B');
    await m.close();
  } finally {
    env.cacheDir = saved.cacheDir;
  }
});

test('a hub id with remote loading on goes to the hub, also while a local model of its name loads at once', async () => {
  // The hub: a local HTTP server serving `<org>/<name>/resolve/main/<file>` from a folder (labels "hub:").
  const hubModels = copyModel('hub', 'extract-computing', 'tagger', 90);
  const asked: string[] = [];
  const hub = createServer((req, res) => {
    const m = /^\/org\/([^/]+)\/resolve\/main\/(.+)$/.exec(req.url ?? '');
    asked.push(req.url ?? '');
    try {
      const body = m ? readFileSync(join(hubModels, m[1]!, decodeURIComponent(m[2]!))) : undefined;
      if (!body) throw new Error('no such file');
      res.writeHead(200, { 'content-length': body.length }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((done) => hub.listen(0, '127.0.0.1', done));
  env.remoteHost = `http://127.0.0.1:${(hub.address() as AddressInfo).port}/`;
  env.cacheDir = join(root, 'hub-cache');
  try {
    const [fromHub, fromA] = await Promise.all([
      loadModel('org/tagger', 'token-classification', { localModelPath: A, allowRemoteModels: true, warmup: false }),
      load(A),
    ]);
    const got = await what(fromHub);
    assert.is(got.label.split(':')[0], 'hub', 'the hub id got the hub config');
    assert.is(got.maxLength, 90, "the hub id got the hub's tokenizer");
    assert.ok(
      asked.some((u) => u.endsWith('/onnx/model.onnx')),
      `the ONNX came from the hub: ${asked.join(', ')}`,
    );
    assertFrom(await what(fromA), 'A', 'the local load beside it');
    await Promise.all([fromHub.close(), fromA.close()]);
  } finally {
    Object.assign(env, saved);
    await new Promise<void>((done) => hub.close(() => done()));
  }
});

test('pipeline worker: two classify stages of one process, one model name, each its own modelsDir, each gets its folder', async () => {
  // product-category copied twice with its categories renamed (a_audio/..., b_audio/...); each stage groups
  // one category, so it warns (classify.ungrouped_category) about every other category of the model it loaded.
  const rename = (tag: string) => (l: string) => `${tag}_${l}`;
  const dirs = { a: copyModel('ca', 'product-category', 'cat', 128, rename('a')), b: copyModel('cb', 'product-category', 'cat', 128, rename('b')) };
  const server = await startRedis();
  const pipeline = randomPipeline();
  const file = join(root, `${pipeline}.json`);
  const stage = (tag: 'a' | 'b') => ({
    name: `classify-${tag}`,
    kind: 'classify',
    model: 'cat',
    process: 'models',
    ...(tag === 'a' ? { input: 'in' } : {}),
    settings: { modelsDir: dirs[tag], groups: { g: [`${tag}_audio`] } },
  });
  const config = {
    pipeline,
    input: 'in',
    streams: { terminal: ['out'] },
    defaults: FAST,
    stages: [stage('a'), stage('b')],
    routes: { 'classify-a': [{ to: 'classify-b' }], 'classify-b': [{ to: 'out' }] },
  };
  writeFileSync(file, JSON.stringify(config));
  const child = cli(['--config', file, 'worker', 'models'], server.url);
  try {
    await waitFor('both stages started', () => (child.output().match(/"event":"worker\.started"/g) ?? []).length === 2, 60_000);
    const warned = child
      .output()
      .split('\n')
      .filter((l) => l.includes('"classify.ungrouped_category"'))
      .map((l) => JSON.parse(l) as { stage: string; category: string });
    for (const tag of ['a', 'b'] as const) {
      const cats = warned.filter((w) => w.stage === `classify-${tag}`).map((w) => w.category);
      assert.ok(cats.length > 5, `classify-${tag} warned about its model's categories: ${cats.join(', ')}`);
      assert.equal(
        cats.filter((c) => !c.startsWith(`${tag}_`)),
        [],
        `classify-${tag} loaded the model of its own modelsDir (${dirs[tag]})`,
      );
    }
  } finally {
    child.kill('SIGTERM');
    await exited(child);
    await server.stop();
  }
});

test.run();
