/**
 * `pipeline reprocess` after the model files changed under running workers (`npm run models`, a
 * new folder copied in place): a worker keeps the model it loaded, so what it would be given back
 * is stored with the old version again, and every later run would put it back once more. The
 * workers name the version they loaded in their liveness marker; reprocess refuses while one runs
 * another version than the files it sees (one that has read nothing since it started too; a dry
 * run says so and counts), and once the workers are
 * restarted it puts each product back once, stored by the new model. A stand-in model stage
 * (test/fixtures/tagger-stage.ts, `versionAtStart`) loads its version at start as the real ones do.
 * And `--model` naming the model a stage was pointed at (a new folder) selects what that stage stored before.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfigFile } from '../../lib/config/load.js';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { isIdle, pipelineStatus } from '../../lib/ops/inspect.js';
import { planReprocess } from '../../lib/ops/reprocess-plan.js';
import { produce } from '../../lib/producer/producer.js';
import { Keys } from '../../lib/redis/keys.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { loadModuleStages } from '../../lib/worker/modules.js';
import { Worker } from '../../lib/worker/worker.js';
import { stageModelVersion } from '../../stages/domain/model-options.js';
import { STAGES } from '../../stages/index.js';
import { cli, exited, FAST } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);
const dir = mkdtempSync(join(tmpdir(), 'reprocess-workers-'));
const TAGGER = resolve(import.meta.dirname, '../fixtures/tagger-stage.ts');

const pipeline = randomPipeline('rw');
const modelsDir = mkdtempSync(join(dir, 'models-'));
mkdirSync(join(modelsDir, 'tagger'));
const model = (content: string) => writeFileSync(join(modelsDir, 'tagger', 'weights.bin'), content);
model('v1');
const file = join(dir, `${pipeline}.json`);
writeFileSync(
  file,
  JSON.stringify({
    pipeline,
    input: 'in',
    defaults: FAST,
    stages: [
      { name: 'preprocess', kind: 'preprocess', input: 'in' },
      { name: 'tag', kind: `module:${TAGGER}`, model: 'tagger', settings: { modelsDir, versionAtStart: true } },
      { name: 'store', kind: 'store', settings: { sink: 'redis' } },
    ],
    routes: { preprocess: [{ to: 'tag' }], tag: [{ to: 'store' }] },
  }),
);
const config = loadConfigFile(file, { env: { REDIS_URL: server.url }, knownKinds: Object.keys(STAGES) });
const keys = new Keys(pipeline);
const tag = config.stages[1]!;

async function startWorkers(c: ResolvedConfig): Promise<Worker[]> {
  const stages = { ...STAGES, ...(await loadModuleStages(c)) };
  return c.stages.map((s) => {
    const w = new Worker({ config: c, stage: s.name, stages, logger: silentLogger });
    w.run().catch((err) => console.error('worker failed', s.name, err));
    return w;
  });
}
const stopAll = (ws: Worker[]) => Promise.all(ws.map((w) => w.stop()));
const idle = async () => isIdle(await pipelineStatus(redis, config));

async function runReprocess(
  args: string[],
): Promise<{ code: number | null; output: string; summary?: { reprocessed: number; skipped: Record<string, number> } }> {
  const child = cli(['--config', file, 'reprocess', ...args], server.url);
  const code = await exited(child);
  const line = child
    .output()
    .split('\n')
    .find((l) => l.startsWith('{"event":"reprocess.done"'));
  return { code, output: child.output(), summary: line ? JSON.parse(line) : undefined };
}

/** The `modelVersion` in the liveness markers of the tag stage's live consumers. */
async function markerVersions(): Promise<string[]> {
  const markers = (await redis.keys(`${keys.liveness('tag', '')}*`)).filter((k) => !k.slice(keys.liveness('tag', '').length).includes(':'));
  const raw = markers.length ? await redis.mget(markers) : [];
  return raw.flatMap((r) => (r ? [String((JSON.parse(r) as { modelVersion?: unknown }).modelVersion)] : [])); // "undefined": a marker without one
}

test('planReprocess --model: a stage pointed at a new model folder is selected by the new name (nothing stored names it yet) and by the one it replaced', () => {
  const doc = {
    input: { id: 'k', title: 'T' },
    outputs: { preprocess: { text: 't' }, classify: { category: 'c' } },
    models: { classify: 'product-category@sha256:old' },
    hops: ['preprocess', 'classify'].map((stage, i) => ({ stage, consumer: 'c', readAt: i, doneAt: i, batch: 1 })),
  };
  const current = { classify: 'category-v2@sha256:abc' };
  assert.equal(planReprocess(doc, { current, model: 'category-v2' }), { stage: 'classify' }, 'a stage that runs it now');
  assert.equal(planReprocess(doc, { current, model: 'product-category' }), { stage: 'classify' }, 'the model it replaced');
  assert.equal(planReprocess(doc, { current, model: 'product-embed' }), { skip: 'otherModel' });
  const redone = { ...doc, models: { classify: 'category-v2@sha256:abc' } };
  assert.equal(planReprocess(redone, { current, model: 'category-v2' }), { skip: 'upToDate' }, 'stored by it: up to date');
});

test('reprocess refuses while a worker runs the model it loaded before the files changed; after a restart it puts each product back once', async () => {
  const v1 = stageModelVersion(tag)!;
  const records = Array.from({ length: 12 }, (_, i) => JSON.stringify({ id: `w${i}`, title: `tools item ${i}` }) + '\n');
  let workers = await startWorkers(config);
  try {
    await produce(redis, Readable.from(records), { stream: keys.stream('in'), source: 'test', maxRecordBytes: 65536 });
    await waitFor('12 stored', async () => (await redis.scard(keys.products)) === 12 && (await idle()));
  } finally {
    await stopAll(workers);
  }
  // Started again before the upgrade: they have read nothing since (their group does not list them yet).
  workers = await startWorkers(config);
  try {
    await waitFor('a live tag worker', async () => (await markerVersions()).length > 0);

    model('v2'); // the upgrade, the workers still running on v1
    const v2 = stageModelVersion(tag)!;
    assert.is.not(v2, v1);
    const tagLen = await redis.xlen(keys.stream('tag'));
    const refused = await runReprocess(['--model', 'tagger']);
    assert.is(refused.code, 1, refused.output);
    assert.match(refused.output, `of stage tag runs ${v1}, not ${v2}`);
    assert.match(refused.output, 'restart the workers on the new model first');
    assert.is(await redis.xlen(keys.stream('tag')), tagLen, 'nothing put back');
    assert.is(await redis.exists(keys.reprocess('w0')), 0, 'nothing marked');

    const dry = await runReprocess(['--model', 'tagger', '--dry-run']);
    assert.is(dry.code, 0, dry.output);
    assert.match(dry.output, `warning: worker `);
    assert.is(dry.summary?.reprocessed, 12, dry.output);
  } finally {
    await stopAll(workers);
  }

  workers = await startWorkers(config); // restarted after the upgrade: they load v2
  try {
    const v2 = stageModelVersion(tag)!;
    await waitFor('the marker names the new version', async () => {
      const vs = await markerVersions();
      return vs.length > 0 && vs.every((v) => v === v2);
    });
    const first = await runReprocess(['--model', 'tagger']);
    assert.is(first.code, 0, first.output);
    assert.is(first.summary?.reprocessed, 12, first.output);
    await waitFor('stored by the new model', async () => {
      if (!(await idle())) return false;
      const docs = await Promise.all(records.map((_, i) => redis.hget(keys.product(`w${i}`), 'doc')));
      return docs.every((d) => (JSON.parse(d!) as { models: Record<string, string> }).models.tag === v2);
    });
    const second = await runReprocess(['--model', 'tagger']);
    assert.equal([second.summary?.reprocessed, second.summary?.skipped.upToDate], [0, 12], second.output);
  } finally {
    await stopAll(workers);
  }
});

test.run();
