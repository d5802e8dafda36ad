import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfigFile, resolveConfig } from '../lib/config/load.js';
import { ConfigError } from '../lib/core/errors.js';

const base = () => ({
  stages: [
    { name: 'preprocess', kind: 'preprocess', input: 'in' },
    { name: 'store', kind: 'store' },
  ],
  routes: { preprocess: [{ to: 'store' }] },
});

const fails = (raw: unknown, where: RegExp, env = {}) =>
  assert.throws(() => resolveConfig(raw, 'x', { env, knownKinds: ['preprocess', 'store'] }), (e: Error) => e instanceof ConfigError && where.test(e.message));

test('defaults merged once, env overrides applied', () => {
  const c = resolveConfig({ ...base(), defaults: { batchSize: 8 } }, 'x', { env: { REDIS_URL: 'redis://h:1', PIPELINE: 'p2', STATSD_HOST: 'stats' } });
  assert.is(c.pipeline, 'p2');
  assert.is(c.redis.url, 'redis://h:1');
  assert.is(c.stages[0]!.batchSize, 8);
  assert.is(c.stages[1]!.input, 'store');
  assert.is(c.stages[1]!.maxDeliveries, 5);
  assert.equal([c.metrics.enabled, c.metrics.host], [true, 'stats']);
});

test('bad configs name the path and the reason', () => {
  fails({ ...base(), stages: [] }, /stages: expected a non-empty array/);
  fails({ ...base(), stagez: 1 }, /stagez: unknown top-level key/);
  fails({ ...base(), stages: [{ name: 'preprocess', kind: 'preprocess', input: 'in', batchSise: 3 }, { name: 'store', kind: 'store' }] }, /stages\[0\]\.batchSise: unknown stage key/);
  fails({ ...base(), defaults: { blockMs: -1 } }, /defaults\.blockMs: expected an integer/);
  fails({ ...base(), stages: [{ name: 'preprocess', kind: 'nope', input: 'in' }, { name: 'store', kind: 'store' }] }, /stages\[0\]\.kind: unknown stage kind "nope"/);
  fails({ ...base(), input: 'elsewhere' }, /input: no stage reads/);
  fails({ ...base(), routes: { preprocess: [{ to: 'shop' }] } }, /routes\.preprocess\[0\]\.to: unknown target stream "shop"/);
});

test('heartbeatMs (renamed keepClaimedMs) still works, with a deprecation warning naming where; the new name wins', () => {
  const warned: string[] = [];
  const onDeprecated = (where: string, message: string) => warned.push(`${where}: ${message}`);
  const raw = { ...base(), defaults: { heartbeatMs: 300 } };
  raw.stages[1] = { name: 'store', kind: 'store', heartbeatMs: 700, keepClaimedMs: 900 } as (typeof raw.stages)[number];
  const c = resolveConfig(raw, 'x', { env: {}, onDeprecated });
  assert.is(c.stages[0]!.keepClaimedMs, 300, 'the old name in defaults sets the new option');
  assert.is(c.stages[1]!.keepClaimedMs, 900, 'the new name wins over the old one');
  assert.not.ok('heartbeatMs' in c.stages[0]!, 'the old name does not reach the resolved stage');
  assert.equal(warned, ['defaults.heartbeatMs: renamed to keepClaimedMs; the old name will be removed in a later release', 'stages[1].heartbeatMs: renamed to keepClaimedMs; the old name will be removed in a later release']);
  const quiet: string[] = [];
  resolveConfig({ ...base(), defaults: { keepClaimedMs: 300 } }, 'x', { env: {}, onDeprecated: (w) => quiet.push(w) });
  assert.equal(quiet, [], 'the new name alone warns nothing');
});

test('the shipped configs load', () => {
  for (const f of ['config/pipeline.json', 'config/rules-only.json']) {
    const c = loadConfigFile(f, { env: {} });
    assert.ok(c.stages.length >= 3, f);
  }
});

test('an unreadable config file is a ConfigError naming the file', () => {
  assert.throws(() => loadConfigFile('/nonexistent.json', { env: {} }), /\/nonexistent\.json: cannot read/);
});

test.run();
