import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { STAGES } from '../stages/index.js';
import { loadStageKinds, STAGE_KINDS, STAGE_SETTINGS } from '../stages/kinds.js';
import { loadConfigFile } from '../lib/config/load.js';
import { ConfigError } from '../lib/core/errors.js';
import { Keys } from '../lib/redis/keys.js';
import { silentLogger } from '../lib/observe/logger.js';
import type { StageContext } from '../lib/worker/stage.js';

test('the lazily imported stage kinds (stages/kinds.ts, what `pipeline worker` loads) are exactly the built-in ones, the same factories', async () => {
  assert.equal([...STAGE_KINDS].sort(), Object.keys(STAGES).sort());
  const all = await loadStageKinds(STAGE_KINDS);
  for (const k of STAGE_KINDS) assert.is(all[k], STAGES[k], k);
  assert.equal(Object.keys(await loadStageKinds(['preprocess', 'module:./x.js', 'preprocess'])), ['preprocess'], 'only built-in kinds, once');
});

test('every built-in kind has its settings listed (config validation refuses the others)', () => {
  assert.equal(Object.keys(STAGE_SETTINGS).sort(), [...STAGE_KINDS].sort());
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
