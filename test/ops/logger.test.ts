import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { BIN } from '../../scripts/commands/common.js';
import { createLogger } from '../../lib/observe/logger.js';

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

test('every command refuses a LOG_LEVEL that is no level before it does anything, naming LOG_LEVEL and the levels (status had ignored it silently)', () => {
  // Redis on a closed port: a command that went on would exit 10 (unreachable), not 1 with this line.
  const env = { ...process.env, REDIS_URL: 'redis://127.0.0.1:1', LOG_LEVEL: 'verbose' };
  for (const args of [['status'], ['dlq', 'list'], ['webhooks', 'dlq', 'list'], ['worker', 'preprocess']]) {
    const r = spawnSync(process.execPath, [BIN, ...args], { env, encoding: 'utf8', timeout: 60_000 });
    assert.is(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.is(r.stderr, 'error: config error at LOG_LEVEL (environment): "verbose" is no log level: use one of debug, info, warn, error (unset: info)\n');
    assert.is(r.stdout, '', 'nothing else ran');
  }
  // Any case, and empty as unset, are taken (status then reaches the closed port: exit 10).
  for (const level of ['WARN', '']) {
    const r = spawnSync(process.execPath, [BIN, 'status'], { env: { ...env, LOG_LEVEL: level }, encoding: 'utf8', timeout: 60_000 });
    assert.is(r.status, 10, `LOG_LEVEL=${JSON.stringify(level)}: ${r.stderr}`);
  }
});

test.run();
