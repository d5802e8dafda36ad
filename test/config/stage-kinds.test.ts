import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { STAGES } from '../../stages/index.js';
import { loadStageKinds, STAGE_KINDS, STAGE_OUTPUTS, STAGE_PATH_SETTINGS, STAGE_SETTINGS } from '../../stages/kinds.js';
import { classificationOutput } from '../../stages/classify.js';
import { extractionFields } from '../../stages/extract.js';
import { parseGroups } from '../../lib/stream/category-groups.js';
import { newEnvelope } from '../../lib/stream/codec.js';
import { loadConfigFile } from '../../lib/config/load.js';
import { ConfigError } from '../../lib/core/errors.js';
import { Keys } from '../../lib/redis/keys.js';
import { silentLogger } from '../../lib/observe/logger.js';
import type { StageContext } from '../../lib/worker/stage.js';

test('the lazily imported stage kinds (stages/kinds.ts, what `pipeline worker` loads) are exactly the built-in ones, the same factories', async () => {
  assert.equal([...STAGE_KINDS].sort(), Object.keys(STAGES).sort());
  const all = await loadStageKinds(STAGE_KINDS);
  for (const k of STAGE_KINDS) assert.is(all[k], STAGES[k], k);
  assert.equal(Object.keys(await loadStageKinds(['preprocess', 'module:./x.js', 'preprocess'])), ['preprocess'], 'only built-in kinds, once');
});

test('every built-in kind has its settings listed (config validation refuses the others)', () => {
  assert.equal(Object.keys(STAGE_SETTINGS).sort(), [...STAGE_KINDS].sort());
});

test('every path-valued setting (resolved against the config file) is a setting its kind reads', () => {
  for (const [kind, paths] of Object.entries(STAGE_PATH_SETTINGS)) {
    for (const p of paths) assert.ok(STAGE_SETTINGS[kind]?.includes(p.split('.')[0]!), `${kind}: ${p}`);
  }
});

test("the output fields listed per kind (what routing rules may test) cover what the stages' own output functions write", async () => {
  assert.equal(Object.keys(STAGE_OUTPUTS).sort(), [...STAGE_KINDS].sort());
  const within = (kind: string, out: Record<string, unknown>) => {
    const extra = Object.keys(out).filter((k) => !STAGE_OUTPUTS[kind]!.includes(k));
    assert.equal(extra, [], `${kind} writes fields not listed: ${extra.join(', ')}`);
  };
  const config = loadConfigFile('config/pipeline.json', { env: {} });
  const ctxOf = (kind: string, settings: Record<string, unknown> = {}) =>
    ({ config, stage: { ...config.stages.find((s) => s.kind === kind)!, settings }, logger: silentLogger }) as unknown as StageContext;
  const envelope = newEnvelope({
    id: 'p1',
    title: 'SanDisk Ultra 64GB USB Flash Drive SDCZ48-064G',
    brand: 'SanDisk',
    mpn: 'SDCZ48-064G',
    gtin: '0619659102364',
  });
  const [pre] = await STAGES.preprocess!(ctxOf('preprocess')).process([{ id: '1-0', stream: 'in', envelope }]);
  assert.ok(pre!.ok);
  within('preprocess', pre!.output);
  assert.equal(Object.keys(pre!.output).sort(), [...STAGE_OUTPUTS.preprocess!].sort(), 'a record with every field gives every listed one');
  const groups = parseGroups('g', { storage: ['storage'] });
  within('classify', {
    ...classificationOutput(
      {
        label: 'storage',
        confidence: 0.9,
        top: [{ label: 'storage', confidence: 0.9 }],
        subcategory: 'usb flash drives',
        subcategoryConfidence: 0.8,
        subcategories: [{ label: 'usb flash drives', score: 0.8 }],
      },
      groups,
    ),
    model: 'm',
    modelVersion: 'v',
  });
  const text = 'SanDisk Ultra 64GB USB Flash Drive SDCZ48-064G';
  const span = (type: string, t: string) => ({ type, text: t, start: text.indexOf(t), end: text.indexOf(t) + t.length, score: 0.9 });
  within('extract', {
    ...extractionFields(
      text,
      [span('BRAND', 'SanDisk'), span('MPN', 'SDCZ48-064G'), span('CAPACITY', '64GB')],
      { lexicon: null, mpnShape: true, mpnTidy: true },
      '0619659102364',
    ),
    model: 'm',
    modelVersion: 'v',
  });
  const validated = { ...envelope, outputs: { ...envelope.outputs, preprocess: pre!.output } };
  const [val] = await STAGES.validate!(ctxOf('validate', { schemas: { storage: { expected: ['capacity'], required: ['capacity'] } } })).process([
    { id: '1-0', stream: 'validate', envelope: validated },
  ]);
  within('validate', (val as { output: Record<string, unknown> }).output);
});

test('a match threshold that is not a similarity in (0, 1] is refused at start, naming it (text had been ignored for the default)', () => {
  const config = loadConfigFile('config/pipeline.json', { env: {} });
  const stage = config.stages.find((s) => s.kind === 'match')!;
  const ctx = (threshold: unknown): StageContext =>
    ({
      config,
      stage: { ...stage, settings: { ...stage.settings, threshold } },
      keys: new Keys(config.pipeline),
      redis: {},
      logger: silentLogger,
      metrics: {},
    }) as unknown as StageContext;
  for (const bad of ['0.9', 0, 1.5]) {
    assert.throws(
      () => STAGES.match!(ctx(bad)),
      (err: unknown) => err instanceof ConfigError && /settings\.threshold: expected a cosine similarity in \(0, 1\]/.test(err.message),
      JSON.stringify(bad),
    );
  }
  assert.is(STAGES.match!(ctx(0.9)).kind, 'match');
  assert.is(STAGES.match!(ctx(undefined)).kind, 'match', 'default 0.92');
});

test.run();
