import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { STAGES } from '../stages/index.js';
import { loadStageKinds, STAGE_KINDS } from '../stages/kinds.js';

test('the lazily imported stage kinds (stages/kinds.ts, what `pipeline worker` loads) are exactly the built-in ones, the same factories', async () => {
  assert.equal([...STAGE_KINDS].sort(), Object.keys(STAGES).sort());
  const all = await loadStageKinds(STAGE_KINDS);
  for (const k of STAGE_KINDS) assert.is(all[k], STAGES[k], k);
  assert.equal(Object.keys(await loadStageKinds(['preprocess', 'module:./x.js', 'preprocess'])), ['preprocess'], 'only built-in kinds, once');
});

test.run();
