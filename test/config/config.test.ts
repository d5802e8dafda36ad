import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfigFile, resolveConfig } from '../../lib/config/load.js';
import { ConfigError } from '../../lib/core/errors.js';
import { checkGracePeriod } from '../../lib/config/checks.js';
import { STAGE_DEFAULTS } from '../../lib/config/defaults.js';

const base = () => ({
  stages: [
    { name: 'preprocess', kind: 'preprocess', input: 'in' },
    { name: 'store', kind: 'store' },
  ],
  routes: { preprocess: [{ to: 'store' }] },
});

const fails = (raw: unknown, where: RegExp, env = {}) =>
  assert.throws(
    () => resolveConfig(raw, 'x', { env, knownKinds: ['preprocess', 'store'] }),
    (e: Error) => e instanceof ConfigError && where.test(e.message),
  );

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
  fails(
    {
      ...base(),
      stages: [
        { name: 'preprocess', kind: 'preprocess', input: 'in', batchSise: 3 },
        { name: 'store', kind: 'store' },
      ],
    },
    /stages\[0\]\.batchSise: unknown stage key/,
  );
  fails({ ...base(), defaults: { blockMs: -1 } }, /defaults\.blockMs: expected an integer/);
  fails(
    {
      ...base(),
      stages: [
        { name: 'preprocess', kind: 'nope', input: 'in' },
        { name: 'store', kind: 'store' },
      ],
    },
    /stages\[0\]\.kind: unknown stage kind "nope"/,
  );
  fails({ ...base(), input: 'elsewhere' }, /input: no stage reads/);
  fails({ ...base(), routes: { preprocess: [{ to: 'shop' }] } }, /routes\.preprocess\[0\]\.to: unknown target stream "shop"/);
});

test('settings that are wrong together fail at start with an error naming both, with their values', () => {
  fails(
    { ...base(), defaults: { keepClaimedMs: 40_000 } },
    /stages\[0\]\.keepClaimedMs: keepClaimedMs \(40000\) must not exceed claimMinIdleMs \(30000\): a running batch would go idle/,
  );
  fails(
    {
      ...base(),
      stages: [
        { name: 'preprocess', kind: 'preprocess', input: 'in', claimMinIdleMs: 2000, keepClaimedMs: 5000 },
        { name: 'store', kind: 'store' },
      ],
    },
    /^config error at stages\[0\]\.keepClaimedMs: keepClaimedMs \(5000\) must not exceed claimMinIdleMs \(2000\)/,
  );
  fails(
    { ...base(), defaults: { retryMaxMs: 60_000 } },
    /stages\[0\]\.retryMaxMs: retryMaxMs \(60000\) must not exceed claimMinIdleMs \(30000\): a message waiting for its retry would be reclaimed/,
  );
  fails(
    { ...base(), defaults: { watchdogIntervalMs: 2_000 } },
    /stages\[0\]\.aliveTtlMs: aliveTtlMs \(3000\) must be at least twice watchdogIntervalMs \(2000\): a live process's alive key would lapse/,
  );
  // Each fine alone, and the defaults fine together.
  const c = resolveConfig({ ...base(), defaults: { claimMinIdleMs: 60_000, keepClaimedMs: 20_000, retryMaxMs: 60_000, stageTimeoutMs: 600_000 } }, 'x', {
    env: {},
  });
  assert.is(c.stages[0]!.stageTimeoutMs, 600_000, 'a deadline beyond claimMinIdleMs is fine: the batch is kept alive until it');
  assert.is(resolveConfig(base(), 'x', { env: {} }).stages[0]!.stageTimeoutMs, 300_000, 'documented default');
  assert.is(resolveConfig(base(), 'x', { env: {} }).stages[0]!.aliveTtlMs, 3_000, 'documented default');
});

test('drainTimeoutMs against the orchestrator grace period: an error naming both', () => {
  assert.throws(
    () => checkGracePeriod('stages.store', { drainTimeoutMs: 30_000 }, 30, 'terminationGracePeriodSeconds'),
    (e: Error) =>
      e instanceof ConfigError &&
      /stages\.store\.drainTimeoutMs: drainTimeoutMs \(30000\) must be below terminationGracePeriodSeconds \(30 s\)/.test(e.message),
  );
  checkGracePeriod('stages.store', { drainTimeoutMs: STAGE_DEFAULTS.drainTimeoutMs }, 40, 'terminationGracePeriodSeconds');
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
  assert.equal(warned, [
    'defaults.heartbeatMs: renamed to keepClaimedMs; the old name will be removed in a later release',
    'stages[1].heartbeatMs: renamed to keepClaimedMs; the old name will be removed in a later release',
  ]);
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

test('a JSON syntax error names its line and column and the text before it (only "at position 60" had been given)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
  try {
    const comma = join(dir, 'comma.json');
    writeFileSync(comma, '{\n  "pipeline": "x",\n  "defaults": {\n    "batchSize": 64,\n  }\n}\n');
    assert.throws(
      () => loadConfigFile(comma, { env: {} }),
      (err: unknown) => {
        assert.instance(err, ConfigError);
        assert.match(
          (err as Error).message,
          /: not valid JSON at line 5, column 3 \(after `"defaults": \{ "batchSize": 64,`\): Expected double-quoted property name/,
        );
        return true;
      },
    );
    const short = join(dir, 'short.json');
    writeFileSync(short, '{"pipeline":');
    assert.throws(() => loadConfigFile(short, { env: {} }), /: not valid JSON: Unexpected end of JSON input$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a config file's mistakes name the file as well as the place; a byte-order mark is read past (it was refused as invalid JSON)", () => {
  const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
  try {
    const good = readFileSync('config/rules-only.json', 'utf8');
    const bom = join(dir, 'bom.json');
    writeFileSync(bom, '\uFEFF' + good);
    assert.ok(loadConfigFile(bom, { env: {} }).stages.length >= 3, 'a BOM-prefixed file loads');
    const bad = join(dir, 'bad.json');
    const raw = JSON.parse(good);
    raw.stages[0].name = 'has space';
    writeFileSync(bad, JSON.stringify(raw));
    assert.throws(
      () => loadConfigFile(bad, { env: {} }),
      (err: unknown) => {
        assert.instance(err, ConfigError);
        assert.match((err as Error).message, new RegExp(`^config error in ${bad.replace(/[.]/g, '\\.')} at stages\\[0\\]\\.name: `));
        assert.is((err as ConfigError).where, 'stages[0].name');
        return true;
      },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a bad PIPELINE from the environment is named as the variable, not as the file's `pipeline`", () => {
  const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
  try {
    const file = join(dir, 'pipeline.json');
    writeFileSync(file, JSON.stringify({ ...base(), pipeline: 'products' }));
    const message = (env: NodeJS.ProcessEnv) => {
      try {
        loadConfigFile(file, { env });
        return 'loaded';
      } catch (err) {
        assert.instance(err, ConfigError);
        return (err as Error).message;
      }
    };
    assert.match(message({ PIPELINE: 'bad name' }), /^config error at PIPELINE \(environment\): invalid name "bad name"/);
    writeFileSync(file, JSON.stringify({ ...base(), pipeline: 'bad name' }));
    assert.match(message({}), new RegExp(`^config error in ${file.replace(/[.]/g, '\\.')} at pipeline: invalid name "bad name"`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the waits caps unset follow a lowered api.maxConnections: nine tenths of it, one caller at most all of them', () => {
  const opts = { env: {}, knownKinds: ['preprocess', 'store'] };
  const low = resolveConfig({ ...base(), api: { maxConnections: 500 } }, 'x', opts);
  assert.equal([low.api.maxWaits, low.api.maxWaitsPerCaller], [450, 450]);
  const mid = resolveConfig({ ...base(), api: { maxConnections: 2000 } }, 'x', opts);
  assert.equal([mid.api.maxWaits, mid.api.maxWaitsPerCaller], [1800, 1000]);
  const dflt = resolveConfig(base(), 'x', opts);
  assert.equal([dflt.api.maxWaits, dflt.api.maxWaitsPerCaller], [9000, 1000]);
  fails({ ...base(), api: { maxConnections: 500, maxWaits: 600 } }, /api\.maxWaits: 600 is not below api\.maxConnections \(500\)/);
});

test('the waits caps: api.maxWaits below api.maxConnections (health and metrics keep connections), api.maxWaitsPerCaller not above api.maxWaits', () => {
  fails({ ...base(), api: { maxWaits: 10_000 } }, /api\.maxWaits: 10000 is not below api\.maxConnections \(10000\)/);
  fails({ ...base(), api: { maxWaits: 50, maxWaitsPerCaller: 51 } }, /api\.maxWaitsPerCaller: 51 is above api\.maxWaits \(50\)/);
  fails({ ...base(), api: { maxWaitsPerCaller: 0 } }, /api\.maxWaitsPerCaller: expected an integer/);
  const c = resolveConfig({ ...base(), api: { maxConnections: 200, maxWaits: 150, maxWaitsPerCaller: 20 } }, 'x', {
    env: {},
    knownKinds: ['preprocess', 'store'],
  });
  assert.equal([c.api.maxWaits, c.api.maxWaitsPerCaller], [150, 20]);
});

test.run();
