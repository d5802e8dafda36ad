import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createLogger } from '../lib/observe/logger.js';

test('a LOG_LEVEL the logger does not know is said once, as a warning naming it, and info is used (it was info silently)', () => {
  const before = process.env.LOG_LEVEL;
  process.env.LOG_LEVEL = 'verbose';
  try {
    const lines: string[] = [];
    const log = createLogger({ stage: 's1' }, undefined, (l) => lines.push(l));
    log.debug('not.shown');
    log.info('shown');
    createLogger({}, undefined, (l) => lines.push(l)).info('second');
    const events = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(
      events.map((e) => e.event),
      ['log.bad_level', 'shown', 'second'],
    );
    assert.is(events[0]!.level, 'warn');
    assert.is(events[0]!.value, 'verbose');
    assert.is(events[0]!.using, 'info');
    assert.is(events[0]!.stage, 's1', 'with the context of the logger that noticed');
  } finally {
    if (before === undefined) delete process.env.LOG_LEVEL;
    else process.env.LOG_LEVEL = before;
  }
});

test('a level shows itself and the levels above it', () => {
  const lines: string[] = [];
  const log = createLogger({}, 'warn', (l) => lines.push(l));
  log.info('no');
  log.warn('yes');
  log.error('yes too');
  assert.equal(
    lines.map((l) => JSON.parse(l).event),
    ['yes', 'yes too'],
  );
});

test.run();
