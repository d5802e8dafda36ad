/**
 * `pipeline up --stages`: the same names `pipeline worker` takes (scripts/commands/up.ts selectStages,
 * lib/config/processes.ts stagesNamed), checked against the shipped config.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfigFile } from '../../lib/config/load.js';
import { ConfigError } from '../../lib/core/errors.js';
import { processUnits, selectStages } from '../../scripts/commands/up.js';

const config = loadConfigFile('config/pipeline.json', { env: {} });
const intake = config.processes.find((p) => p.name === 'intake')!;

test('a process name stands for its stages, as for pipeline worker (it was refused as "no stage named intake")', () => {
  assert.equal(selectStages(config, 'intake'), intake.stages);
  assert.equal(processUnits(config, selectStages(config, 'intake')), [{ name: 'intake', stages: intake.stages }]);
});

test('stage names come back in config order, without repeats; none given: every stage', () => {
  const [first, second] = config.stages.map((s) => s.name);
  assert.equal(selectStages(config, `${second}, ${first},${second}`), [first, second]);
  assert.equal(
    selectStages(config),
    config.stages.map((s) => s.name),
  );
});

test('an unknown name is a config error naming the stages and the processes (it named the stages alone)', () => {
  try {
    selectStages(config, 'nope');
    assert.unreachable('selectStages took "nope"');
  } catch (err) {
    assert.instance(err, ConfigError);
    assert.match((err as Error).message, /no stage or process named "nope" \(stages: .*preprocess.*; processes: intake \(/);
  }
});

test.run();
