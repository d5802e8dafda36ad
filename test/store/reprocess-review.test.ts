/**
 * `pipeline reprocess` of a product a reviewer decided (docs/models.md#after-a-model-upgrade-reprocess,
 * docs/console.md): the decision is not a model's output and survives the model upgrade. The
 * product is stored again with the refreshed model outputs, the reviewer's category, fields and
 * reviewedBy over them, and is not queued for review again; an undecided product still is.
 * Real Redis, real workers, the stand-in model stage (test/fixtures/tagger-stage.ts) unsure of
 * every record.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { decideReview } from '../../lib/console/review-decide.js';
import { listReview } from '../../lib/console/review-list.js';
import { isIdle, pipelineStatus } from '../../lib/ops/inspect.js';
import { reprocess } from '../../lib/ops/reprocess.js';
import { produce } from '../../lib/producer/producer.js';
import { Keys } from '../../lib/redis/keys.js';
import { configShards } from '../../lib/redis/shard.js';
import { currentModelVersions, stageModelVersion } from '../../stages/domain/model-options.js';
import { redisProducts } from '../../stages/sinks/export.js';
import { FAST, startModuleWorkers, stopAll } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);
const dir = mkdtempSync(join(tmpdir(), 'reprocess-review-'));
const TAGGER = resolve(import.meta.dirname, '../fixtures/tagger-stage.ts');

/** preprocess → tag (unsure: to validate and review) → validate → store; `model(content)` writes the model's one file. */
function setup(): { config: ResolvedConfig; keys: Keys; model: (content: string) => void } {
  const pipeline = randomPipeline('rv');
  const modelsDir = mkdtempSync(join(dir, 'models-'));
  mkdirSync(join(modelsDir, 'tagger'));
  const model = (content: string) => writeFileSync(join(modelsDir, 'tagger', 'weights.bin'), content);
  model('v1');
  const config = resolveConfig(
    {
      pipeline,
      input: 'in',
      defaults: FAST,
      stages: [
        { name: 'preprocess', kind: 'preprocess', input: 'in' },
        { name: 'tag', kind: `module:${TAGGER}`, model: 'tagger', settings: { modelsDir, confidence: 0.3 } },
        { name: 'validate', kind: 'validate' },
        { name: 'store', kind: 'store', settings: { sink: 'redis' } },
      ],
      routes: {
        preprocess: [{ to: 'tag' }],
        tag: [{ when: { confidence: { lt: 0.5 } }, to: ['validate', 'review'] }, { to: 'validate' }],
        validate: [{ to: 'store' }],
      },
    },
    'test',
    { env: { REDIS_URL: server.url } },
  );
  return { config, keys: new Keys(pipeline), model };
}

const idle = async (config: ResolvedConfig) => isIdle(await pipelineStatus(redis, config));
type Doc = { input: { title: string }; outputs: Record<string, Record<string, unknown>>; models: Record<string, string>; hops: { stage: string }[] };
const docOf = async (keys: Keys, id: string) => JSON.parse((await redis.hget(keys.product(id), 'doc')) ?? '{}') as Doc;
/** The keys of the review stream's items, oldest first. */
const reviewKeys = async (keys: Keys) => ((await redis.xrange(keys.stream('review'), '-', '+')) as [string, string[]][]).map(([, f]) => f[1]);

test("a reprocess after a model upgrade keeps the reviewer's category, fields and reviewedBy over the new model outputs, and does not queue the decided product for review again", async () => {
  const s = setup();
  let workers = await startModuleWorkers(s.config);
  try {
    const lines = [
      { id: 'p1', title: 'tools item 1' },
      { id: 'p2', title: 'tools item 2' },
    ].map((r) => JSON.stringify(r) + '\n');
    await produce(redis, Readable.from(lines), { stream: s.keys.stream('in'), source: 'test', maxRecordBytes: 65536 });
    await waitFor('both stored', async () => (await redis.scard(s.keys.products)) === 2 && (await idle(s.config)));
    assert.equal(await reviewKeys(s.keys), ['p1', 'p2'], 'both unsure: queued for review');
    const item = (await listReview(redis, s.keys)).find((i) => i.key === 'p1')!;
    await decideReview(redis, s.config, s.keys, item.id, { category: 'garden', fields: { brand: 'Reviewer Brand' }, reviewer: 'alice' });
    await waitFor('the decision stored', async () => (await docOf(s.keys, 'p1')).outputs.review?.reviewedBy === 'alice' && (await idle(s.config)));
  } finally {
    await stopAll(workers);
  }
  s.model('v2'); // the upgrade
  const v2 = stageModelVersion(s.config.stages[1]!)!;
  const r = await reprocess(redis, s.config, redisProducts(redis, configShards(s.config), {}, 100), {
    current: currentModelVersions(s.config),
    model: 'tagger',
  });
  assert.equal([r.reprocessed, r.byStage], [2, { tag: 2 }]);
  workers = await startModuleWorkers(s.config);
  try {
    await waitFor(
      'both stored by v2',
      async () => (await idle(s.config)) && (await docOf(s.keys, 'p1')).models.tag === v2 && (await docOf(s.keys, 'p2')).models.tag === v2,
    );
  } finally {
    await stopAll(workers);
  }
  const doc = await docOf(s.keys, 'p1');
  assert.equal([doc.outputs.tag!.category, doc.outputs.tag!.modelVersion], ['tools', v2], 'the model output refreshed');
  assert.equal(
    [doc.outputs.review?.category, doc.outputs.review?.brand, doc.outputs.review?.reviewedBy],
    ['garden', 'Reviewer Brand', 'alice'],
    'the decision carried through the reprocess',
  );
  assert.ok(
    doc.hops.some((h) => h.stage === 'review'),
    'its review hop too',
  );
  const h = await redis.hgetall(s.keys.product('p1'));
  assert.equal([h.category, h.brand, h.reviewedBy], ['garden', 'Reviewer Brand', 'alice'], "the store keeps the reviewer's category and fields");
  assert.is(h.copies, '1', 'neither the decision nor the reprocess is a copy');
  assert.is((await redis.smembers(s.keys.category('garden'))).includes('p1'), true);
  // The undecided p2 is unsure again and queued again; the decided p1 is not.
  assert.equal(await reviewKeys(s.keys), ['p1', 'p2', 'p2']);
});

test.run();
