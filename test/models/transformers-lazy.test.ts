/**
 * transformers.js (with ONNX Runtime's and sharp's native libraries under it) is imported when a
 * model is loaded, not with the CLI, the stage kinds or the library: a process that runs no model
 * (`pipeline status`, `produce`, a rules-only worker) starts without it, in about half the time.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';

/** The native libraries of transformers.js's dependencies this process has loaded. */
const native = () => (process.report.getReport() as { sharedObjects: string[] }).sharedObjects.filter((f) => /onnxruntime|sharp/.test(f));

test('the CLI, every stage kind and the library load no transformers.js; importing it for a model does', async () => {
  await import('../../scripts/commands/program.js');
  await import('../../stages/index.js');
  await import('../../lib/index.js');
  assert.equal(native(), [], 'native libraries loaded with no model');
  const { transformers } = await import('../../lib/models/transformers.js');
  await transformers();
  assert.ok(
    native().some((f) => f.includes('onnxruntime')),
    'the check sees ONNX Runtime once transformers.js is imported',
  );
});

test.run();
