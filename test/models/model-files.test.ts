/**
 * A local model folder with a missing or broken file: loadModel and the start checks (missingModel,
 * what `up`, `start` and `eval` call) name the file and what is wrong with it (transformers.js had said
 * "Cannot read properties of undefined (reading 'tokenizer_class')", "Unexpected end of JSON input"
 * without a file, and ONNX Runtime a page about protobuf).
 */
import { cpSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_MODEL_PATH, loadModel, missingModel, ModelLoadError } from '../../lib/models/loader.js';

const root = mkdtempSync(join(tmpdir(), 'model-files-'));
const MODEL = 'product-category';

test.after(() => rmSync(root, { recursive: true, force: true }));

/** A copy of the shipped classifier in a models folder of its own, broken by `breakIt`. */
function brokenCopy(breakIt: (folder: string) => void): string {
  const dir = mkdtempSync(join(root, 'models-'));
  cpSync(join(DEFAULT_MODEL_PATH, MODEL), join(dir, MODEL), { recursive: true });
  breakIt(join(dir, MODEL));
  return dir;
}

const cases: [string, (folder: string) => void, string, RegExp][] = [
  ['tokenizer_config.json deleted', (f) => rmSync(join(f, 'tokenizer_config.json')), 'tokenizer_config.json', /: missing$/],
  ['config.json cut short', (f) => truncateSync(join(f, 'config.json'), 100), 'config.json', /: not JSON \(.+\)$/],
  ['tokenizer.json an array', (f) => writeFileSync(join(f, 'tokenizer.json'), '[]'), 'tokenizer.json', /: not a JSON object$/],
  ['onnx/model.onnx empty', (f) => truncateSync(join(f, 'onnx', 'model.onnx'), 0), join('onnx', 'model.onnx'), /: empty$/],
];

test('an intact copy passes both (and loads)', async () => {
  const dir = brokenCopy(() => {});
  assert.is(missingModel(MODEL, dir), undefined);
  const m = await loadModel(MODEL, 'sequence-classification', { localModelPath: dir, warmup: false });
  assert.ok(m.labels.length > 0);
  await m.close();
});

for (const [what, breakIt, file, problem] of cases) {
  test(`${what}: loadModel and the start check name the file and the problem`, async () => {
    const dir = brokenCopy(breakIt);
    const path = join(dir, MODEL, file);
    let caught: unknown;
    try {
      await loadModel(MODEL, 'sequence-classification', { localModelPath: dir, warmup: false });
    } catch (err) {
      caught = err;
    }
    assert.instance(caught, ModelLoadError);
    const err = caught as ModelLoadError & { file?: string };
    assert.is(err.name, 'ModelFilesError');
    assert.is(err.file, path);
    assert.is(err.message.startsWith(`cannot load model ${MODEL}: ${path}: `), true, err.message);
    assert.match(err.message, problem);
    const why = missingModel(MODEL, dir);
    assert.is(why?.startsWith(`${path}: `), true, why);
    assert.match(why!, problem);
  });
}

test.run();
