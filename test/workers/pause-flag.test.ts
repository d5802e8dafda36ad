/** The paused flag's pure parts (lib/stream/pause-flag.ts, lib/ops/pause.ts, scripts/commands/status.ts): parsing, the lines shown, which stages a target names. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parsePauseRecord, pauseFields, pauseLine } from '../../lib/stream/pause-flag.js';
import { stagesToPause, UnknownStageError } from '../../lib/ops/pause.js';
import { pausedLine } from '../../scripts/commands/status.js';
import { rulesOnlyConfig } from '../helpers/pipeline.js';

test('a flag as read: absent or empty is not paused; fields read leniently; written back as they were', () => {
  assert.is(parsePauseRecord(null), undefined);
  assert.is(parsePauseRecord({}), undefined);
  assert.equal(parsePauseRecord({ by: 'cli:ann', at: '1000', reason: 'migration' }), { by: 'cli:ann', at: 1000, reason: 'migration' });
  assert.equal(parsePauseRecord({ at: 'x' }), { by: 'unknown', at: 0 }, 'a hash someone wrote by hand still pauses');
  assert.equal(pauseFields({ by: 'api:alice', at: 5 }), { by: 'api:alice', at: '5' }, 'no reason field without a reason');
});

test('the lines: seconds ago, the reason when given, one PAUSED line per stage', () => {
  assert.is(pauseLine({ by: 'cli:ann', at: 1_000 }, 43_400), 'paused by cli:ann 42 s ago');
  assert.is(pauseLine({ by: 'cli:ann', at: 50_000, reason: 'x' }, 40_000), 'paused by cli:ann 0 s ago: x', 'a clock behind never says a negative age');
  assert.is(pausedLine([]), undefined);
  assert.is(
    pausedLine(
      [
        { stage: 'store', by: 'a', at: 0, reason: 'db' },
        { stage: 'validate', by: 'b', at: 0 },
      ],
      2_000,
    ),
    'PAUSED store: paused by a 2 s ago: db\nPAUSED validate: paused by b 2 s ago',
  );
});

test('a target names one stage or all; an unknown one is an UnknownStageError naming it and the stages', () => {
  const config = rulesOnlyConfig('redis://127.0.0.1:1', 'p');
  assert.equal(stagesToPause(config, 'validate'), ['validate']);
  assert.equal(stagesToPause(config, 'all'), ['preprocess', 'validate', 'store']);
  const err = (() => {
    try {
      stagesToPause(config, 'vlaidate');
    } catch (e) {
      return e;
    }
  })();
  assert.instance(err, UnknownStageError);
  assert.is((err as UnknownStageError).stage, 'vlaidate');
  assert.is((err as Error).message, 'no stage "vlaidate" in this pipeline (stages: preprocess, validate, store; or all)');
});

test.run();
