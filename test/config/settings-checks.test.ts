/**
 * The built-in stages' settings are parsed and checked when the config loads (stages/settings-checks.ts):
 * `groups` and `schemas` had been parsed only inside the worker (a bad one passed `pipeline up`'s
 * checks and the worker crash-looped), and a misspelt group, category or attribute loaded without
 * a word and never matched (a misspelt required attribute sent every matching record to review).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { resolveConfig } from '../../lib/config/load.js';
import { ConfigError } from '../../lib/core/errors.js';
import { KIND_CHECKS } from '../../stages/kinds.js';
import { createClassify } from '../../stages/classify.js';
import { createLogger } from '../../lib/observe/logger.js';
import type { StageContext } from '../../lib/worker/stage.js';
import { startRedis } from '../helpers/redis.js';
import { upUntilExit } from '../helpers/processes.js';

type Raw = { stages: { name: string; settings?: Record<string, unknown>; model?: string }[]; routes: Record<string, Record<string, unknown>[]> };
const shipped = (): Raw => JSON.parse(readFileSync(resolve(import.meta.dirname, '../../config/pipeline.json'), 'utf8')) as Raw;
const stage = (raw: Raw, name: string) => raw.stages.find((s) => s.name === name)!;
const schemas = (raw: Raw) => stage(raw, 'validate').settings!.schemas as Record<string, unknown>;
const groups = (raw: Raw) => stage(raw, 'classify').settings!.groups as Record<string, string[]>;

/** The ConfigError message of `raw` loaded with the CLI's checks, or 'loaded'. */
function load(raw: unknown, env: NodeJS.ProcessEnv = {}): string {
  try {
    resolveConfig(raw, 'x', { env, ...KIND_CHECKS });
    return 'loaded';
  } catch (err) {
    assert.instance(err, ConfigError);
    return (err as Error).message;
  }
}

test('the shipped config loads with the checks', () => {
  assert.is(load(shipped()), 'loaded');
});

test("bad schemas and groups shapes are errors at load, naming the path (they had been the worker's first parse)", () => {
  let raw = shipped();
  schemas(raw).storage = { requird: ['capacity'] };
  assert.match(load(raw), /at stages\[5\]\.settings\.schemas\.storage\.requird: unknown key/);
  raw = shipped();
  schemas(raw).storage = { required: 'capacity' };
  assert.match(load(raw), /at stages\[5\]\.settings\.schemas\.storage\.required: expected an array of attribute names/);
  raw = shipped();
  groups(raw).computing = ['storage', 'audio'];
  assert.match(load(raw), /at stages\[1\]\.settings\.groups\.computing: audio is already in group electronics/);
  raw = shipped();
  stage(raw, 'classify').settings!.ungrouped = 'maybe';
  assert.match(load(raw), /at stages\[1\]\.settings\.ungrouped: expected "warn" or "fail"/);
});

test("the store's appliedEntriesKept: an integer from 1 to 1000, checked at load naming the path; a module: sink's settings are its own", () => {
  const store = (v: unknown, sink?: string) => {
    const raw = shipped();
    const i = raw.stages.findIndex((s) => s.name === 'store');
    raw.stages[i]!.settings = { ...raw.stages[i]!.settings, ...(sink ? { sink } : {}), appliedEntriesKept: v };
    return { msg: load(raw), i };
  };
  assert.is(store(4).msg, 'loaded');
  for (const bad of [0, 1001, 2.5, '16']) {
    const { msg, i } = store(bad);
    assert.match(msg, new RegExp(`at stages\\[${i}\\]\\.settings\\.appliedEntriesKept: expected an integer from 1 to 1000`), String(bad));
  }
  assert.is(store('anything', 'module:./my-sink.js').msg, 'loaded');
});

test('match, extract and store settings of the wrong type are errors at load naming the path (the worker had been the first to parse them: status and deploy render --check took them)', () => {
  const withSettings = (name: string, settings: Record<string, unknown>) => {
    const raw = shipped();
    const i = raw.stages.findIndex((s) => s.name === name);
    raw.stages[i]!.settings = { ...raw.stages[i]!.settings, ...settings };
    return { msg: load(raw), i };
  };
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['match', { threshold: '0.9' }, /\.settings\.threshold: expected a cosine similarity in \(0, 1\], got "0\.9"/],
    ['match', { threshold: 2 }, /\.settings\.threshold: expected a cosine similarity/],
    ['match', { shardWaitMs: '1000' }, /\.settings\.shardWaitMs: expected milliseconds > 0, got "1000"/],
    ['match', { index: { list: 128 } }, /\.settings\.index\.list: unknown setting \(known: exactBelow, lists, probes, dir\)/],
    ['match', { recheck: { settleMs: '2s' } }, /\.settings\.recheck\.settleMs: expected a positive integer, got "2s"/],
    ['extract.computing', { brandMinCount: '3' }, /\.settings\.brandMinCount: expected a positive integer, got "3"/],
    ['extract.computing', { mpnTidy: 'false' }, /\.settings\.mpnTidy: expected true or false, got "false"/],
    ['store', { sink: 'redsi' }, /\.settings\.sink: unknown sink "redsi" \(known: redis, postgres, or module:<path> for your own\)/],
    ['store', { sink: 'postgres', postgresPoolSize: '5' }, /\.settings\.postgresPoolSize: expected an integer >= 1, got "5"/],
    ['store', { sink: 'postgres', postgresSchema: 'my-schema' }, /\.settings\.postgresSchema: invalid schema name "my-schema"/],
    ['store', { sink: 'postgres', postgresUrl: 'mysql://db/x' }, /\.settings\.postgresUrl: expected a postgres:\/\/ URL/],
  ];
  for (const [name, settings, want] of cases) {
    const { msg, i } = withSettings(name, settings);
    assert.match(msg, new RegExp(`at stages\\[${i}\\]${want.source}`), `${name} ${JSON.stringify(settings)}: ${msg}`);
  }
  assert.is(withSettings('match', { threshold: 0.9, shardWaitMs: 500, index: { lists: 64 }, recheck: { settleMs: 1000 } }).msg, 'loaded');
  assert.is(withSettings('extract.computing', { brandMinCount: 3, mpnTidy: false }).msg, 'loaded');
  assert.is(withSettings('store', { sink: 'module:./my-sink.js', anything: 1 }).msg, 'loaded');
  // Its URL may come from env DATABASE_URL, the store workers': not needed to load.
  assert.is(withSettings('store', { sink: 'postgres', postgresPoolSize: 2 }).msg, 'loaded');
});

test('a route on a group that does not exist is an error', () => {
  const raw = shipped();
  raw.routes.classify![3]!.when = { group: 'electronix' };
  assert.match(
    load(raw),
    /at routes\.classify\[3\]\.when\.group: no group "electronix" in stages\[1\]\.settings\.groups \(groups: electronics, computing, accessories\)/,
  );
  raw.routes.classify![3]!.when = { any: [{ group: { in: ['computing', 'acessories'] } }] };
  assert.match(load(raw), /at routes\.classify\[3\]\.when\.any\[0\]\.group\.in: no group "acessories"/);
  // Without a groups table no rule on a group can match.
  delete stage(raw, 'classify').settings!.groups;
  assert.match(load(raw), /at routes\.classify\[0\]\.when\.group: no group "electronics" .*\(groups: none\)/);
});

test("group members, route values and schema keys must be the classify model's categories or <category>/<subcategory>", () => {
  let raw = shipped();
  groups(raw).electronics![0] = 'audoi';
  assert.match(load(raw), /at stages\[1\]\.settings\.groups\.electronics: "audoi" is no category or <category>\/<subcategory> of model product-category/);
  raw = shipped();
  groups(raw).computing!.push('storage/usb flash drive');
  assert.match(load(raw), /"storage\/usb flash drive" is no category/);
  raw = shipped();
  groups(raw).computing!.push('audio/headphones'); // a subcategory may sit in another group than its category
  assert.is(load(raw), 'loaded');
  raw = shipped();
  raw.routes.classify!.unshift({ when: { subcategory: { in: ['usb flash drive'] } }, to: 'extract.computing' });
  assert.match(
    load(raw),
    /at routes\.classify\[0\]\.when\.subcategory\.in: model product-category has no subcategory "usb flash drive": the rule would never match/,
  );
  raw = shipped();
  raw.routes.classify!.unshift({ when: { category: 'storag' }, to: 'extract.computing' });
  assert.match(load(raw), /at routes\.classify\[0\]\.when\.category: model product-category has no category "storag"/);
  raw = shipped();
  schemas(raw)['storag/usb flash drives'] = { required: ['capacity'] };
  assert.match(load(raw), /at stages\[5\]\.settings\.schemas\.storag\/usb flash drives: "storag\/usb flash drives" is no category/);
});

test('schema attributes must be ones an extract model tags (capacity, size, length): a misspelt required one is an error', () => {
  let raw = shipped();
  schemas(raw)['storage/usb flash drives'] = { required: ['capacty'] };
  assert.match(
    load(raw),
    /at stages\[5\]\.settings\.schemas\.storage\/usb flash drives\.required: no extract stage's model gives attribute "capacty" \(they give: size, capacity, length\)/,
  );
  raw = shipped();
  schemas(raw)['tv_video/tvs'] = { expected: ['screen'] };
  assert.match(load(raw), /schemas\.tv_video\/tvs\.expected: no extract stage's model gives attribute "screen"/);
});

test('labels not known here (a hub model, no local config.json) are not checked; the group names still are', () => {
  const raw = shipped();
  groups(raw).electronics![0] = 'audoi';
  schemas(raw)['storag/usb flash drives'] = { required: ['capacty'] };
  const dir = mkdtempSync(join(tmpdir(), 'nomodels-'));
  try {
    assert.is(load(raw, { MODELS_DIR: dir }), 'loaded');
    raw.routes.classify![3]!.when = { group: 'electronix' };
    assert.match(load(raw, { MODELS_DIR: dir }), /no group "electronix"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ungrouped "fail" refuses a model whose categories are in no group, naming them', () => {
  const raw = shipped();
  stage(raw, 'classify').settings!.ungrouped = 'fail';
  assert.is(load(raw), 'loaded', 'every category of the shipped model is in a group');
  groups(raw).electronics = groups(raw).electronics!.filter((c) => c !== 'tv_video');
  groups(raw).electronics!.push('tv_video/tvs');
  const msg = load(raw);
  assert.match(msg, /at stages\[1\]\.settings\.groups: model product-category has labels in no group: tv_video \(tv_video\/\*, /);
  assert.not.match(msg, /tv_video\/tvs/, 'the grouped subcategory is not listed');
});

test('classify init warns once per category of its model in no group (a structured log line), or fails with ungrouped "fail"', async () => {
  const config = resolveConfig(shipped(), 'x', { env: {} });
  const start = async (settings: Record<string, unknown>) => {
    const lines: string[] = [];
    const stage = { ...config.stages.find((s) => s.kind === 'classify')!, settings };
    const ctx = { config, stage, logger: createLogger({}, 'info', (l) => lines.push(l)) } as unknown as StageContext;
    const classify = createClassify(ctx);
    try {
      await classify.init!();
    } finally {
      await classify.close?.();
    }
    return lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.event === 'classify.ungrouped_category');
  };
  const full = groups(shipped());
  assert.equal(await start({ groups: full }), [], 'every category of the shipped model is in a group');
  // The relabelled model's case: tv_video in no group, one of its subcategories in one.
  const partial = { ...full, electronics: [...full.electronics!.filter((c) => c !== 'tv_video'), 'tv_video/tvs'] };
  const warned = await start({ groups: partial });
  assert.is(warned.length, 1, 'one line per category');
  assert.is(warned[0]!.level, 'warn');
  assert.is(warned[0]!.category, 'tv_video');
  assert.ok((warned[0]!.labels as string[]).includes('tv_video/*'));
  assert.not.ok((warned[0]!.labels as string[]).includes('tv_video/tvs'), 'the grouped subcategory is not listed');
  assert.equal(await start({}), [], 'no groups configured: nothing to warn about');
  try {
    await start({ groups: partial, ungrouped: 'fail' });
    assert.unreachable('init failed');
  } catch (err) {
    assert.instance(err, ConfigError);
    assert.match((err as Error).message, /model product-category has labels in no group: tv_video/);
  }
});

test('pipeline up refuses a bad schema at once, naming the path (its worker had crash-looped)', async () => {
  const server = await startRedis();
  const dir = mkdtempSync(join(tmpdir(), 'upcheck-'));
  try {
    const raw = shipped();
    schemas(raw).storage = { requird: ['capacity'] };
    const file = join(dir, 'p.json');
    writeFileSync(file, JSON.stringify(raw));
    const { code, out } = await upUntilExit(file, server.url, 30_000);
    assert.is(code, 1, `up exits 1 at once; output:\n${out.slice(-2000)}`);
    assert.match(out, /stages\[5\]\.settings\.schemas\.storage\.requird: unknown key/);
    assert.not.match(out, /supervisor\.started/, 'no worker was started');
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await server.stop();
  }
});

test.run();
