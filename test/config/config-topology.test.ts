/**
 * Config checks that keep records from being lost or looping (lib/config/topology.ts) and the
 * settings sections' keys and types (lib/config/sections.ts): each was a config that loaded
 * without a word and then trimmed unread work, fed the DLQ to itself, looped records forever or
 * ignored a setting.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfigFile, resolveConfig } from '../../lib/config/load.js';
import { routeCycle } from '../../lib/config/topology.js';
import { ConfigError } from '../../lib/core/errors.js';
import { parseRedisUrl, URL_FORMS } from '../../lib/redis/url.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../scripts/commands/common.js';
import { checkStageSettings, stageOutputs } from '../../stages/kinds.js';

const base = (): Record<string, unknown> => ({
  stages: [
    { name: 'preprocess', kind: 'preprocess', input: 'in' },
    { name: 'validate', kind: 'validate' },
    { name: 'store', kind: 'store' },
  ],
  routes: { preprocess: [{ to: 'validate' }], validate: [{ to: 'store' }] },
});

/** The ConfigError message of `raw`, or a failure when it loads. */
function error(raw: unknown, env: NodeJS.ProcessEnv = {}): string {
  try {
    resolveConfig(raw, 'x', { env });
  } catch (err) {
    assert.instance(err, ConfigError);
    return (err as Error).message;
  }
  assert.unreachable('the config loaded');
  return '';
}

test('the base config loads', () => {
  assert.is(resolveConfig(base(), 'x', { env: {} }).stages.length, 3);
});

test("a terminal stream that a stage reads is refused (terminalMaxAgeMs would trim that stage's work unread)", () => {
  const m = error({ ...base(), streams: { terminal: ['review', 'validate'], terminalMaxAgeMs: 1000 } });
  assert.match(m, /streams\.terminal\[1\]/);
  assert.match(m, /"validate" is the input of stage validate/);
  assert.match(error({ ...base(), streams: { terminal: ['review', 'review'] } }), /listed twice/);
});

test("names of the pipeline's own keys are refused as streams: a stage named dlq, an input under vectors:, a terminal done", () => {
  const named = (name: string) => ({
    ...base(),
    stages: [...(base().stages as object[]).slice(0, 2), { name, kind: 'store' }],
    routes: { preprocess: [{ to: 'validate' }], validate: [{ to: name }] },
  });
  assert.match(error(named('dlq')), /stages\[2\]\.name.*"dlq" is a key the pipeline keeps for itself/);
  assert.match(error(named('products')), /"products" is a key/);
  // The data-loss marker and record (lib/stream/data-loss.ts): a stream there would be taken for, or break, them.
  assert.match(error(named('epoch')), /"epoch" is a key/);
  assert.match(error({ ...base(), streams: { terminal: ['data-lost'] } }), /streams\.terminal\[0\].*"data-lost" is a key/);
  const input = {
    ...base(),
    stages: [...(base().stages as object[]).slice(0, 2), { name: 'store', kind: 'store', input: 'vectors:x' }],
    routes: { preprocess: [{ to: 'validate' }], validate: [{ to: 'vectors:x' }] },
  };
  assert.match(error(input), /stages\[2\]\.input.*prefix of the pipeline's own keys/);
  assert.match(error({ ...base(), streams: { terminal: ['done'] } }), /streams\.terminal\[0\].*"done"/);
});

test('a cycle of routes is refused, naming it; a self-loop too', () => {
  const cycle = { ...base(), routes: { preprocess: [{ to: 'validate' }], validate: [{ when: { mpn: { exists: true } }, to: 'in' }, { to: 'store' }] } };
  assert.match(error(cycle), /routes\.preprocess: routes form a cycle \(preprocess → validate → preprocess\)/);
  const self = { ...base(), routes: { preprocess: [{ to: 'validate' }], validate: [{ to: ['store', 'validate'] }] } };
  assert.match(error(self), /cycle \(validate → validate\)/);
  assert.is(
    routeCycle(
      [
        { name: 'a', input: 'a' },
        { name: 'b', input: 'b' },
        { name: 'c', input: 'c' },
      ],
      { a: [{ to: ['b', 'c'] }], b: [{ to: 'c' }] },
    ),
    undefined,
  );
});

test('settings sections: unknown keys and wrong types are errors naming the key', () => {
  assert.match(error({ ...base(), limits: { maxLagg: 5 } }), /limits\.maxLagg: unknown key \(known: maxRecordBytes, maxLag/);
  assert.match(error({ ...base(), metrics: { enabeld: true } }), /metrics\.enabeld: unknown key/);
  assert.match(error({ ...base(), logs: { stream: 'false' } }), /logs\.stream: expected true or false, got "false"/);
  assert.match(error({ ...base(), metrics: { port: 99999 } }), /metrics\.port: expected a port number/);
  assert.match(error({ ...base(), streams: { trimAcked: 'no' } }), /streams\.trimAcked: expected true or false/);
  assert.match(error({ ...base(), redis: { uri: 'redis://h' } }), /redis\.uri: unknown key/);
  assert.match(error({ ...base(), pipeline: 5 }), /pipeline: expected a name, got 5/);
  assert.ok(resolveConfig({ ...base(), limits: { $comment: 'why', maxLag: 10 } }, 'x', { env: {} }).limits.maxLag === 10);
  assert.match(error({ ...base(), supervisor: { restartBaseMS: 10 } }), /supervisor\.restartBaseMS: unknown key \(known: restartBaseMs/);
  assert.match(error({ ...base(), supervisor: { crashLoopAfter: 0 } }), /supervisor\.crashLoopAfter: expected an integer from 1/);
  assert.match(error({ ...base(), console: { sampleIntervalMS: 1000 } }), /console\.sampleIntervalMS: unknown key \(known: sampleIntervalMs, historyMs/);
  assert.match(error({ ...base(), console: { metrics: 'no' } }), /console\.metrics: expected true or false/);
  assert.match(error({ ...base(), console: { maxBulk: 0 } }), /console\.maxBulk: expected an integer from 1/);
  assert.match(error({ ...base(), supervisor: { restartBaseMs: 20_000 } }), /supervisor\.restartMaxMs: 10000 is below supervisor\.restartBaseMs \(20000\)/);
  assert.equal(resolveConfig({ ...base(), supervisor: { crashLoopAfter: 2 } }, 'x', { env: {} }).supervisor, {
    restartBaseMs: 500,
    restartMaxMs: 10_000,
    stableAfterMs: 30_000,
    crashLoopAfter: 2,
    handOverTimeoutMs: 5000,
  });
});

test("integers stop at Node's longest timer; environment integers name their text", () => {
  assert.match(
    error({ ...base(), defaults: { claimIntervalMs: 3_000_000_000 } }),
    /defaults\.claimIntervalMs: expected an integer from 1 to 2147483647, got 3000000000/,
  );
  assert.match(error({ ...base(), defaults: { batchSize: 1e300 } }), /defaults\.batchSize: expected an integer from 1 to 2147483647/);
  assert.match(error(base(), { PIPELINE_SHARDS: 'abc' }), /at PIPELINE_SHARDS \(environment\): expected an integer >= 1, got "abc"/);
  // Named as the variable the user set, not the file's metrics.port it had been named as.
  assert.match(error(base(), { STATSD_PORT: '99999' }), /at STATSD_PORT \(environment\): expected a port number, 1-65535, got 99999/);
});

test("a bad Redis URL is named by where it came from: REDIS_URL or REDIS_URL_<STAGE> (environment, no file named) or the file's redis.url (REDIS_URL had been named redis.url)", () => {
  const dir = mkdtempSync(join(tmpdir(), 'redis-url-'));
  const file = join(dir, 'pipeline.json');
  const message = (raw: unknown, env: NodeJS.ProcessEnv): string => {
    writeFileSync(file, JSON.stringify(raw));
    try {
      loadConfigFile(file, { env, checkRedisUrl: (url, where) => void parseRedisUrl(url, where) }); // as the CLI's loadConfig
    } catch (err) {
      assert.instance(err, ConfigError);
      return (err as Error).message;
    }
    assert.unreachable('the config loaded');
    return '';
  };
  try {
    const fine = { ...base(), redis: { url: 'redis://127.0.0.1:6379' } };
    assert.match(message(fine, { REDIS_URL: 'http://h:6379' }), /^config error at REDIS_URL \(environment\): expected redis:\/\/.*got http:\/\/$/);
    assert.match(message(fine, { REDIS_URL_VALIDATE: 'redis://h:6379/abc' }), /^config error at REDIS_URL_VALIDATE \(environment\): the database after/);
    assert.is(message({ ...base(), redis: { url: 'h:6379' } }, {}), `config error in ${file} at redis.url: expected ${URL_FORMS}, got no scheme`);
    assert.is(resolveConfig(fine, 'x', { env: { REDIS_URL: 'redis://h:1' } }).redis.url, 'redis://h:1', 'a good one is taken');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a stage setting its kind does not read is refused, naming it and the known ones (a misspelt "treshold" had run on the default)', () => {
  const withSettings = (i: number, settings: Record<string, unknown>) => {
    const raw = base() as { stages: Record<string, unknown>[] };
    raw.stages[i]!.settings = settings;
    return raw;
  };
  const check = (raw: unknown) => {
    try {
      resolveConfig(raw, 'x', { env: {}, checkSettings: checkStageSettings });
    } catch (err) {
      assert.instance(err, ConfigError);
      return (err as Error).message;
    }
    return 'loaded';
  };
  assert.match(check(withSettings(1, { shemas: {} })), /stages\[1\]\.settings\.shemas: unknown setting for a validate stage \(known: acl, schemas\)/);
  assert.match(check(withSettings(2, { postgresURL: 'x' })), /stages\[2\]\.settings\.postgresURL: unknown setting for a store stage/);
  assert.is(check(withSettings(1, { schemas: {}, acl: {} })), 'loaded');
  assert.is(check(withSettings(2, { sink: 'module:./mine.js', file: 'out.jsonl' })), 'loaded', "a module sink's own settings are its code's business");
  // The CLI's loader (every command) runs the check, and names the file.
  const dir = mkdtempSync(join(tmpdir(), 'settings-'));
  try {
    const f = join(dir, 'p.json');
    writeFileSync(f, JSON.stringify(withSettings(0, { lowercase: true })));
    assert.throws(
      () => loadConfig({ config: f }),
      (err: unknown) => {
        assert.match((err as Error).message, `config error in ${f} at stages[0].settings.lowercase: unknown setting for a preprocess stage (known: acl)`);
        return true;
      },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a routing rule on a field its stage never outputs is refused, naming the rule and the fields there are (a misspelt one had sent every record to the next rule)', () => {
  const routed = (when: unknown) => ({ ...base(), routes: { preprocess: [{ when, to: 'validate' }, { to: 'store' }], validate: [{ to: 'store' }] } });
  const check = (raw: unknown) => {
    try {
      resolveConfig(raw, 'x', { env: {}, stageOutputs });
    } catch (err) {
      assert.instance(err, ConfigError);
      return (err as Error).message;
    }
    return 'loaded';
  };
  assert.match(
    check(routed({ titel: 'x' })),
    'config error at routes.preprocess[0].when.titel: a preprocess stage outputs no field "titel" (it outputs: title, text, mpn, gtin, brand)',
  );
  assert.match(
    check(routed({ any: [{ mpn: { exists: true } }, { 'gtn.x': 1 }] })),
    'routes.preprocess[0].when.gtn.x: a preprocess stage outputs no field "gtn"',
  );
  assert.is(check(routed({ any: [{ mpn: { exists: true } }, { gtin: { exists: true } }] })), 'loaded');
  const moduleKind = base() as { stages: Record<string, unknown>[] };
  moduleKind.stages[0]!.kind = 'module:./mine.js';
  assert.is(
    check({ ...moduleKind, routes: { preprocess: [{ when: { anything: 1 }, to: 'validate' }, { to: 'store' }], validate: [{ to: 'store' }] } }),
    'loaded',
    'a module kind may output anything',
  );
});

test.run();
