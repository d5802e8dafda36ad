import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeEnvelope, entryFields, type Envelope } from '../../lib/stream/codec.js';
import { loadConfigFile } from '../../lib/config/load.js';
import { isIdle, pipelineStatus } from '../../lib/ops/inspect.js';
import { produce } from '../../lib/producer/producer.js';
import { Keys } from '../../lib/redis/keys.js';
import type { Entity } from '../../lib/models/bio.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';
import { FAST, startWorkers, stopAll } from '../helpers/pipeline.js';

// Written out independently of config/pipeline.json, so a wrong routing table fails the test.
const GROUP: Record<string, string> = {
  audio: 'electronics',
  cameras_photo: 'electronics',
  tv_video: 'electronics',
  phones_radios: 'electronics',
  gps_auto: 'electronics',
  security_surveillance: 'electronics',
  computers: 'computing',
  networking: 'computing',
  peripherals: 'computing',
  storage: 'computing',
  software: 'computing',
  printers_ink: 'computing',
  cables_power: 'accessories',
  cases_protection: 'accessories',
  office_supplies: 'accessories',
};
/** The routing table's review threshold on classifier confidence. */
const REVIEW_BELOW = 0.5;

const { server, redis } = await redisForFile(test);

test('500 dev records through the model pipeline: routed by the group of the predicted category (low confidence and missing required attributes also to review), model provenance stored, spans are substrings of the input', async () => {
  const pipeline = randomPipeline('m');
  const base = loadConfigFile('config/pipeline.json', { env: { REDIS_URL: server.url, PIPELINE: pipeline } });
  const config = { ...base, stages: base.stages.map((s) => ({ ...s, ...FAST, blockMs: 100, drainTimeoutMs: 30_000, claimMinIdleMs: 60_000 })) };
  const keys = new Keys(pipeline);
  const dev = readFileSync(resolve(import.meta.dirname, '../../../shared/data/products/dev.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .slice(0, 500);
  const titles = new Map(
    dev.map((l) => {
      const r = JSON.parse(l) as { id: string; title: string };
      return [r.id, r.title];
    }),
  );
  const jsonl = [...titles].map(([id, title]) => JSON.stringify({ id, title })).join('\n');

  const workers = startWorkers(config);
  const envelopes: Envelope[] = [];
  try {
    await produce(redis, Readable.from([Buffer.from(jsonl)]), { stream: keys.stream('in'), source: 'dev', maxRecordBytes: 65536 });
    await waitFor(
      'every record stored',
      async () => {
        const s = await pipelineStatus(redis, config);
        return s.stored === 500 && isIdle(s);
      },
      240_000,
      200,
    );
  } finally {
    await stopAll(workers);
  }
  for (const id of titles.keys()) {
    const doc = await redis.hget(keys.product(id), 'doc');
    if (doc) envelopes.push(JSON.parse(doc) as Envelope);
  }
  const reviewEnvelopes = (await redis.xrangeBuffer(keys.stream('review'), '-', '+')).map(([, f]) => decodeEnvelope(entryFields(f).payload!));
  const reviewed = new Set(reviewEnvelopes.map((e) => e.key));
  // Tokenise once: what classify forwards carries the title's token ids; the stored product does not.
  assert.ok(reviewEnvelopes.length > 0);
  for (const e of reviewEnvelopes) assert.ok((e.tokens?.ids.length ?? 0) > 2, `${e.key} carries token ids`);
  assert.ok(envelopes.every((e) => e.tokens === undefined));
  assert.is(envelopes.length, 500);
  assert.is(await redis.xlen(keys.dlq), 0);

  let extracted = 0;
  for (const env of envelopes) {
    const cls = env.outputs.classify as { category: string; confidence: number; group?: string; modelVersion?: string };
    const extractStage = env.hops.map((h) => h.stage).find((s) => s.startsWith('extract.'));
    const validated = env.outputs.validate as { attributesComplete?: boolean } | undefined;
    const incomplete = validated?.attributesComplete === false;
    assert.is(
      reviewed.has(env.key),
      cls.confidence < REVIEW_BELOW || incomplete,
      `${env.key} (confidence ${cls.confidence}, attributes complete ${validated?.attributesComplete}) review fan-out`,
    );
    assert.is(cls.group, GROUP[cls.category], `${env.key} group`);
    // Provenance: the stored product names each model with a content hash of its files.
    const models = (env as unknown as { models: Record<string, string> }).models;
    assert.match(models.classify ?? '', /^product-category@sha256:[0-9a-f]{16}$/);
    assert.match(models[extractStage!] ?? '', /^extract-[a-z]+@sha256:[0-9a-f]{16}$/);
    assert.is(extractStage, `extract.${GROUP[cls.category]}`, `${env.key} (${cls.category})`);
    const out = env.outputs[extractStage!] as { entities: Entity[]; brand?: string; mpn?: string };
    const text = (env.outputs.preprocess as { text: string }).text;
    for (const e of out.entities) {
      extracted++;
      assert.is(text.slice(e.start, e.end), e.text, `${env.key} span offsets`);
      assert.ok(titles.get(env.key)!.includes(e.text), `${env.key}: "${e.text}" is not in the title`);
    }
    // Every extracted record is validated (identifiers and the category's attribute schema).
    assert.ok(
      env.hops.some((h) => h.stage === 'validate'),
      `${env.key} validated`,
    );
  }
  assert.ok(extracted > 500, `only ${extracted} entities extracted from 500 titles`);
});

test.run();
