/**
 * `pipeline reprocess` (lib/ops/reprocess.ts, docs/models.md#after-a-model-upgrade-reprocess) on a
 * real Redis: a pipeline with a stand-in model stage (test/fixtures/tagger-stage.ts: no ML, a
 * content-hashed model folder) stores products; the model's files change; reprocessing one
 * category by `--model` stores exactly those again, once, from the model stage on; the
 * reprocessed version wins the store's newest-wins over the version it was built from, and a
 * record produced since that version (before or during the reprocess) wins over it.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfigFile } from '../../lib/config/load.js';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { aclUsers, applyAcl } from '../../lib/ops/acl.js';
import { isIdle, pipelineStatus } from '../../lib/ops/inspect.js';
import { originAfter, planReprocess, rebuildEnvelope, reprocess, type ReprocessSummary } from '../../lib/ops/reprocess.js';
import { compareStreamIds, parseStreamId } from '../../lib/stream/stream-id.js';
import { produce } from '../../lib/producer/producer.js';
import { Keys } from '../../lib/redis/keys.js';
import { configShards } from '../../lib/redis/shard.js';
import { stageDataAccess } from '../../stages/access.js';
import { currentModelVersions, stageModelVersion } from '../../stages/domain/model-options.js';
import { redisProducts } from '../../stages/sinks/export.js';
import { STAGES } from '../../stages/index.js';
import { cli, exited, FAST, startModuleWorkers, stopAll, writeConfig } from '../helpers/pipeline.js';
import { client, randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);
const dir = mkdtempSync(join(tmpdir(), 'reprocess-'));
const TAGGER = resolve(import.meta.dirname, '../fixtures/tagger-stage.ts');
const CATEGORIES = ['tools', 'garden', 'toys'];

/** preprocess → tag (the stand-in model `tagger`) → validate → store, the model folder in a temp dir; `model(content)` writes its one file (a new version). */
function setup(): { file: string; config: ResolvedConfig; keys: Keys; model: (content: string) => void } {
  const pipeline = randomPipeline('rp');
  const modelsDir = mkdtempSync(join(dir, 'models-'));
  mkdirSync(join(modelsDir, 'tagger'));
  const model = (content: string) => writeFileSync(join(modelsDir, 'tagger', 'weights.bin'), content);
  model('v1');
  const raw = {
    pipeline,
    input: 'in',
    defaults: FAST,
    stages: [
      { name: 'preprocess', kind: 'preprocess', input: 'in' },
      { name: 'tag', kind: `module:${TAGGER}`, model: 'tagger', settings: { modelsDir } },
      { name: 'validate', kind: 'validate' },
      { name: 'store', kind: 'store', settings: { sink: 'redis' } },
    ],
    routes: { preprocess: [{ to: 'tag' }], tag: [{ to: 'validate' }], validate: [{ to: 'store' }] },
  };
  const file = join(dir, `${pipeline}.json`);
  writeFileSync(file, JSON.stringify(raw));
  const config = loadConfigFile(file, { env: { REDIS_URL: server.url }, knownKinds: Object.keys(STAGES) });
  return { file, config, keys: new Keys(pipeline), model };
}

async function produceRecords(keys: Keys, records: Record<string, unknown>[]): Promise<void> {
  const lines = records.map((r) => JSON.stringify(r) + '\n');
  await produce(redis, Readable.from(lines), { stream: keys.stream('in'), source: 'test', maxRecordBytes: 65536 });
}

const idle = async (config: ResolvedConfig) => isIdle(await pipelineStatus(redis, config));

/** `pipeline reprocess ...` as a child process: its exit code and the parsed `reprocess.done` line. */
async function runReprocess(
  file: string,
  args: string[],
  url = server.url,
): Promise<{ code: number | null; summary: ReprocessSummary & { dryRun: boolean }; output: string }> {
  const child = cli(['--config', file, 'reprocess', ...args], url);
  const code = await exited(child);
  const line = child
    .output()
    .split('\n')
    .find((l) => l.startsWith('{"event":"reprocess.done"'));
  return { code, summary: (line ? JSON.parse(line) : undefined) as ReprocessSummary & { dryRun: boolean }, output: child.output() };
}

/** 30 products, 10 per category (the title's first word is the stand-in model's category). */
const records = () =>
  Array.from({ length: 30 }, (_, i) => ({ id: `p${i}`, title: `${CATEGORIES[i % 3]} item ${i}`, ...(i % 2 === 0 ? { mpn: `MX-${i}` } : {}) }));

const snapshot = async (keys: Keys) => {
  const out = new Map<string, Record<string, string>>();
  for (const r of records()) out.set(r.id, await redis.hgetall(keys.product(r.id)));
  return out;
};
const docOf = (h: Record<string, string>) =>
  JSON.parse(h.doc!) as { route: string[]; models: Record<string, string>; hops: { stage: string; readAt: number }[]; outputs: Record<string, unknown> };

test('planReprocess: --model selects by stored provenance, the default re-enters at the first changed model stage, --from-stage only on the route; rebuildEnvelope keeps what came before', () => {
  const doc = {
    input: { id: 'k', title: 'T' },
    outputs: { preprocess: { text: 't' }, classify: { category: 'c' }, 'extract.a': { brand: 'b' }, validate: { gtinValid: true } },
    models: { classify: 'product-category@sha256:old', 'extract.a': 'extract-a@sha256:same' },
    hops: ['preprocess', 'classify', 'extract.a', 'validate'].map((stage, i) => ({ stage, consumer: 'c', readAt: i, doneAt: i, batch: 1 })),
  };
  const current = { classify: 'product-category@sha256:new', 'extract.a': 'extract-a@sha256:same', match: 'product-embed@sha256:x' };
  assert.equal(planReprocess(doc, { current }), { stage: 'classify' });
  assert.equal(planReprocess(doc, { current, model: 'product-category' }), { stage: 'classify' });
  assert.equal(planReprocess(doc, { current, model: 'extract-a' }), { skip: 'upToDate' }, 'extract-a is at its current version');
  assert.equal(planReprocess(doc, { current, model: 'product-embed' }), { skip: 'otherModel' }, 'no stage of its route stored product-embed');
  assert.equal(planReprocess(doc, { current, model: 'product-category', fromStage: 'validate' }), { stage: 'validate' });
  assert.equal(planReprocess(doc, { current, fromStage: 'match' }), { skip: 'notOnRoute' });
  assert.equal(planReprocess({ ...doc, route: ['preprocess', 'classify', 'extract.a', 'validate', 'store'] }, { current, fromStage: 'store' }), {
    stage: 'store',
  });
  assert.equal(planReprocess(doc, { current: { ...current, classify: 'product-category@sha256:old' } }), { skip: 'upToDate' });
  assert.equal(planReprocess(doc, { current: { ...current, validate: 'rules@sha256:1' } }), { stage: 'classify' }, 'the first changed one');
  assert.equal(planReprocess({ ...doc, hops: undefined }, { current }), { skip: 'unreadable' });
  const p = { key: 'k', category: 'c', entryId: '5-0', traceId: 'tr', storedAt: '', version: '1700000000000-9', doc };
  const env = rebuildEnvelope(p, 'extract.a', 1234);
  assert.is(rebuildEnvelope({ ...p, version: null }, 'classify', 1).origin, undefined, 'no stored version: no origin (always written)');
  assert.equal(
    env.hops.map((h) => h.stage),
    ['preprocess', 'classify'],
  );
  assert.equal(Object.keys(env.outputs), ['preprocess', 'classify']);
  assert.equal([env.key, env.traceId, env.origin, env.producedAt, env.input.title], ['k', 'tr', '1700000000000-10', 1234, 'T']);
});

test('reprocess --category --model: a dry run counts and writes nothing; two runs at once put each product back once; stored again from the model stage with a newer version; other categories untouched', async () => {
  const s = setup();
  let workers = await startModuleWorkers(s.config);
  try {
    await produceRecords(s.keys, records());
    await waitFor('30 stored', async () => (await redis.scard(s.keys.products)) === 30 && (await idle(s.config)));
  } finally {
    await stopAll(workers);
  }
  const before = await snapshot(s.keys);
  const v1 = docOf(before.get('p0')!).models.tag!;
  assert.match(v1, /^tagger@sha256:[0-9a-f]{16}$/);
  assert.is(before.get('p0')!.category, 'tools');

  // Nothing changed yet: nothing to reprocess.
  const none = await runReprocess(s.file, ['--category', 'tools', '--model', 'tagger']);
  assert.is(none.code, 0, none.output);
  assert.equal([none.summary.scanned, none.summary.reprocessed, none.summary.skipped.upToDate], [10, 0, 10], 'up to date, not otherModel');

  s.model('v2'); // the upgrade
  const tagLen = await redis.xlen(s.keys.stream('tag'));
  const dry = await runReprocess(s.file, ['--category', 'tools', '--model', 'tagger', '--dry-run']);
  assert.is(dry.code, 0, dry.output);
  assert.equal([dry.summary.dryRun, dry.summary.scanned, dry.summary.reprocessed, dry.summary.byStage], [true, 10, 10, { tag: 10 }]);
  assert.is(await redis.xlen(s.keys.stream('tag')), tagLen, 'a dry run adds nothing');
  assert.is(await redis.exists(s.keys.reprocess('p0')), 0, 'a dry run marks nothing');

  // p21 produced again (a new title) while the workers are stopped: in flight when the reprocess reads its stored version.
  await produceRecords(s.keys, [{ id: 'p21', title: 'tools item 21, renamed before' }]);
  // Two runs of the same selection at once (in-process, a connection each, a product per batch so they interleave), workers stopped.
  const conns = [client(server.url), client(server.url)];
  const runs = await Promise.all(
    conns.map((c) =>
      reprocess(c, s.config, redisProducts(c, configShards(s.config), { category: 'tools' }, 2), {
        current: currentModelVersions(s.config),
        model: 'tagger',
        batch: 1,
      }),
    ),
  );
  for (const c of conns) c.disconnect();
  assert.is(runs[0]!.reprocessed + runs[1]!.reprocessed, 10, 'each product put back once between the two runs');
  assert.is(runs[0]!.skipped.inFlight + runs[1]!.skipped.inFlight, 10);
  assert.is(await redis.xlen(s.keys.stream('tag')), tagLen + 10);
  const again = await runReprocess(s.file, ['--category', 'tools', '--model', 'tagger']);
  assert.equal([again.summary.reprocessed, again.summary.skipped.inFlight], [0, 10], 'a third run while they are in flight puts back nothing');

  // Origins: just after the stored version's; a record produced before or after the reprocess has a higher one.
  assert.is((await redis.hget(s.keys.reprocess('p3'), 'origin'))!, originAfter(before.get('p3')!.version));
  await produceRecords(s.keys, [{ id: 'p27', title: 'tools item 27, renamed after' }]);

  const v2 = stageModelVersion(s.config.stages[1]!)!;
  assert.is.not(v2, v1);
  const tools = records().filter((r) => r.title.startsWith('tools'));
  workers = await startModuleWorkers(s.config);
  try {
    await waitFor('tools stored again', async () => {
      if (!(await idle(s.config))) return false;
      const hs = await Promise.all(tools.map((r) => redis.hgetall(s.keys.product(r.id))));
      return hs.every((h) => docOf(h).models.tag === v2);
    });
  } finally {
    await stopAll(workers);
  }
  const after = await snapshot(s.keys);
  for (const r of records()) {
    const [old, now] = [before.get(r.id)!, after.get(r.id)!];
    if (!r.title.startsWith('tools')) {
      assert.equal(now, old, `${r.id}: another category, untouched`);
      continue;
    }
    const [d0, d1] = [docOf(old), docOf(now)];
    assert.ok(Number(now.storedAt) > Number(old.storedAt), `${r.id}: stored again`);
    assert.ok(compareStreamIds(parseStreamId(now.version!)!, parseStreamId(old.version!)!) > 0, `${r.id}: a newer version`);
    assert.is(d1.models.tag, v2, `${r.id}: by the new model`);
    assert.equal(d1.route, ['preprocess', 'tag', 'validate', 'store']);
    if (r.id === 'p21' || r.id === 'p27') continue; // produced again: their own new run
    assert.is(now.copies, '1', `${r.id}: a reprocessed version is not a copy`);
    assert.equal(d1.hops[0], d0.hops[0], `${r.id}: preprocess was not run again (its hop as stored)`);
    assert.equal(d1.outputs.preprocess, d0.outputs.preprocess);
    assert.ok(d1.hops[1]!.readAt > d0.hops.at(-1)!.readAt, `${r.id}: tag ran again after the first run`);
  }
  for (const [id, title] of [
    ['p21', 'tools item 21, renamed before'],
    ['p27', 'tools item 27, renamed after'],
  ])
    assert.is(JSON.parse(after.get(id!)!.doc!).input.title, title, `${id}: a record produced since the stored version wins over the reprocessed one`);
  const done = await runReprocess(s.file, ['--category', 'tools', '--model', 'tagger', '--dry-run']);
  assert.equal([done.summary.reprocessed, done.summary.skipped.upToDate], [0, 10], 'once stored by the new model: up to date (had said otherModel)');
});

test('reprocess --from-stage on the rules-only pipeline: products whose route went through it re-enter there, the rest are left alone; the default (first changed model) finds nothing to do', async () => {
  const pipeline = randomPipeline('rr');
  const file = writeConfig(pipeline);
  const config = loadConfigFile(file, { env: { REDIS_URL: server.url }, knownKinds: Object.keys(STAGES) });
  const keys = new Keys(pipeline);
  let workers = await startModuleWorkers(config);
  try {
    await produceRecords(keys, records());
    await waitFor('30 stored', async () => (await redis.scard(keys.products)) === 30 && (await idle(config)));
  } finally {
    await stopAll(workers);
  }
  const before = await snapshot(keys);
  const up = await runReprocess(file, []);
  assert.equal([up.code, up.summary.scanned, up.summary.reprocessed, up.summary.skipped.upToDate], [0, 30, 0, 30], up.output);
  const r = await runReprocess(file, ['--from-stage', 'validate', '--batch', '4']);
  assert.is(r.code, 0, r.output);
  assert.is(await redis.hget(keys.reprocess('p0'), 'origin'), originAfter(before.get('p0')!.version));
  assert.equal(
    [r.summary.reprocessed, r.summary.byStage, r.summary.skipped.notOnRoute],
    [15, { validate: 15 }, 15],
    'the records with an mpn went through validate',
  );
  workers = await startModuleWorkers(config);
  try {
    await waitFor('stored again', () => idle(config)); // the put-back entries were in validate's stream before the workers started
  } finally {
    await stopAll(workers);
  }
  const after = await snapshot(keys);
  for (const rec of records()) {
    const [old, now] = [before.get(rec.id)!, after.get(rec.id)!];
    if (rec.mpn === undefined) assert.equal(now, old, `${rec.id}: never went through validate, untouched`);
    else {
      assert.is(now.copies, '1', `${rec.id}: not a copy`);
      assert.ok(Number(now.storedAt) > Number(old.storedAt), rec.id);
      assert.equal(docOf(now).route, ['preprocess', 'validate', 'store']);
    }
  }
  const bad = await runReprocess(file, ['--from-stage', 'nope']);
  assert.is(bad.code, 1);
  assert.match(bad.output, /--from-stage: no stage "nope"/);
  // A filter that selects nothing says so (it ended with zeros and nothing else, like a run with nothing to do).
  const none = await runReprocess(file, ['--category', 'nosuch', '--dry-run']);
  assert.equal([none.code, none.summary.scanned], [0, 0], none.output);
  assert.match(none.output, /warning: no stored product in the redis sink matched --category "nosuch"/);
  assert.not.match(up.output, /warning: no stored product/, 'not without a filter');
});

test("a sharded pipeline (shards: 3): each product re-enters on its own shard, with an origin from its shard's input stream", async () => {
  const pipeline = randomPipeline('rs');
  const file = writeConfig(pipeline, FAST, { shards: 3 });
  const config = loadConfigFile(file, { env: { REDIS_URL: server.url }, knownKinds: Object.keys(STAGES) });
  const shards = configShards(config);
  const workers = await startModuleWorkers(config);
  try {
    const rs = records();
    await produce(redis, Readable.from(rs.map((r) => JSON.stringify(r) + '\n')), {
      stream: shards.all[0]!.stream('in'),
      streamFor: (k) => shards.keysFor(k).stream('in'),
      source: 'test',
      maxRecordBytes: 65536,
    });
    await waitFor(
      '30 stored',
      async () => (await idle(config)) && (await Promise.all(shards.all.map((k) => redis.scard(k.products)))).reduce((a, b) => a + b) === 30,
    );
    const versions = new Map(await Promise.all(rs.map(async (x) => [x.id, await redis.hget(shards.keysFor(x.id).product(x.id), 'version')] as const)));
    const r = await runReprocess(file, ['--from-stage', 'validate']);
    assert.equal([r.code, r.summary.scanned, r.summary.reprocessed], [0, 30, 15], r.output);
    await waitFor('stored again', async () => {
      if (!(await idle(config))) return false;
      const stored = await Promise.all(rs.filter((x) => x.mpn).map((x) => redis.hget(shards.keysFor(x.id).product(x.id), 'version')));
      return stored.every((v, i) => v === originAfter(versions.get(rs.filter((x) => x.mpn)[i]!.id)));
    });
    for (const x of rs.filter((y) => y.mpn)) {
      const own = shards.keysFor(x.id);
      // Put back with the stored version's origin one on (its own shard's input stream id), and stored with it.
      const origin = parseStreamId(originAfter(versions.get(x.id))!)!;
      assert.ok(
        compareStreamIds(origin, parseStreamId((await redis.hget(own.product(x.id), 'version'))!)!) === 0,
        `${x.id}: stored with the origin it was put back with`,
      );
      // Its marker went with that store (upsert-product-5.lua), on every shard.
      for (const k of shards.all) assert.is(await redis.exists(k.reprocess(x.id)), 0);
    }
  } finally {
    await stopAll(workers);
  }
});

test('the observer user may run --dry-run (reads only) but not put products back (NOPERM, exit 13, saying to run it as the admin)', async () => {
  const s = setup();
  const workers = await startModuleWorkers(s.config);
  try {
    await produceRecords(s.keys, records().slice(0, 6));
    await waitFor('6 stored', async () => (await redis.scard(s.keys.products)) === 6 && (await idle(s.config)));
  } finally {
    await stopAll(workers);
  }
  s.model('v2');
  const tagLen = await redis.xlen(s.keys.stream('tag'));
  const users = aclUsers(s.config, { dataAccess: stageDataAccess });
  await applyAcl(redis, users);
  const observer = users.find((u) => u.role === 'observer')!.url;
  const dry = await runReprocess(s.file, ['--model', 'tagger', '--dry-run'], observer);
  assert.is(dry.code, 0, dry.output);
  assert.is(dry.summary.reprocessed, 6);
  assert.match(dry.output, /warning: the workers' model versions were not checked: NOPERM/, 'it may not SCAN for their markers');
  const real = await runReprocess(s.file, ['--model', 'tagger'], observer);
  assert.is(real.code, 13, real.output);
  assert.match(real.output, /error: Redis user \S+-observer may not run .*`pipeline reprocess` .*run it as the admin/);
  assert.is(await redis.xlen(s.keys.stream('tag')), tagLen, 'nothing put back');
});

test.run();
