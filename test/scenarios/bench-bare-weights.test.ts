/**
 * The bench's bare model loop (bench/bare-models.ts) runs the classify stage as the stage does,
 * `settings.categoryWeights` included: it had loaded the classifier without them, so on a config
 * with weights its categories (and so its routes and compared outputs) were not the pipeline's.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnChild } from '../../bench/children.js';
import { modelBenchConfig } from '../../bench/model-config.js';

const REPO = resolve(import.meta.dirname, '../..');
/** How long the child may take to load its models and run the records. */
const CHILD_MS = 120_000;
const dir = mkdtempSync(join(tmpdir(), 'bench-bare-weights-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('bare loop: a classify stage whose weights leave one category gives that category to every record', async () => {
  const labels = Object.values(
    (JSON.parse(readFileSync(join(REPO, 'models/product-category/config.json'), 'utf8')) as { id2label: Record<string, string> }).id2label,
  );
  const categories = [...new Set(labels.map((l) => l.split('/')[0]!))];
  assert.ok(categories.includes('storage') && categories.length > 2, categories.join(', '));
  const config = JSON.parse(readFileSync(join(REPO, 'config/pipeline.json'), 'utf8')) as { stages: { kind: string; settings?: Record<string, unknown> }[] };
  const classify = config.stages.find((s) => s.kind === 'classify')!;
  classify.settings = { ...classify.settings, categoryWeights: Object.fromEntries(categories.filter((c) => c !== 'storage').map((c) => [c, 0])) };
  writeFileSync(join(dir, 'weights.json'), JSON.stringify(config));
  // The model part's config, as the bench gives it to both sides (the pipeline's stages get the settings as they are).
  const file = join(dir, 'bench.json');
  writeFileSync(file, JSON.stringify(modelBenchConfig('bw', 4, 1, join(dir, 'weights.json')).config));

  const child = spawnChild('bare#weights', 'bare-models.ts', [file, '12', '4', '1', 'outputs']);
  const deadline = setTimeout(() => child.process.kill('SIGKILL'), CHILD_MS);
  try {
    await child.ready;
    child.go();
    const r = (await child.result) as { outputs: Record<string, string> };
    const given = Object.values(r.outputs).map((digest) => {
      const parts = JSON.parse(digest) as unknown[];
      const fields = parts[parts.indexOf('classify') + 1] as unknown[];
      return fields[1]; // COMPARED: text, category, ...
    });
    assert.is(given.length, 12);
    assert.ok(
      given.every((c) => c === 'storage'),
      `categories given: ${given.join(', ')}`,
    );
  } finally {
    clearTimeout(deadline);
    await child.stop();
  }
});

test.run();
