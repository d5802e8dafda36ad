import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeEnvelope, entryFields, type Envelope } from '../lib/stream/codec.js';
import { loadConfigFile } from '../lib/config/load.js';
import { isIdle, pipelineStatus } from '../lib/ops/inspect.js';
import { produce } from '../lib/producer/producer.js';
import { Keys } from '../lib/redis/keys.js';
import type { Entity } from '../lib/models/bio.js';
import { client, randomPipeline, startRedis, waitFor } from './helpers/redis.js';
import { FAST, startWorkers, stopAll } from './helpers/pipeline.js';

// Written out independently of config/pipeline.json, so a wrong routing table fails the test.
const GROUP: Record<string, string> = {
  audio: 'electronics', cameras_photo: 'electronics', tv_video: 'electronics', phones_radios: 'electronics', gps_auto: 'electronics', security_surveillance: 'electronics',
  computers: 'computing', networking: 'computing', peripherals: 'computing', storage: 'computing', software: 'computing', printers_ink: 'computing',
  cables_power: 'accessories', cases_protection: 'accessories', office_supplies: 'accessories',
};

const server = await startRedis();
const redis = client(server.url);

test('500 dev records through the model pipeline: routed by predicted category (low confidence also to review), spans are substrings of the input', async () => {
  const pipeline = randomPipeline('m');
  const base = loadConfigFile('config/pipeline.json', { env: { REDIS_URL: server.url, PIPELINE: pipeline } });
  const config = { ...base, stages: base.stages.map((s) => ({ ...s, ...FAST, blockMs: 100, drainTimeoutMs: 30_000, claimMinIdleMs: 60_000 })) };
  const keys = new Keys(pipeline);
  const dev = readFileSync(resolve(import.meta.dirname, '../../shared/data/products/dev.jsonl'), 'utf8').trim().split('\n').slice(0, 500);
  const titles = new Map(dev.map((l) => { const r = JSON.parse(l) as { id: string; title: string }; return [r.id, r.title]; }));
  const jsonl = [...titles].map(([id, title]) => JSON.stringify({ id, title })).join('\n');

  const workers = startWorkers(config);
  const envelopes: Envelope[] = [];
  try {
    await produce(redis, Readable.from([Buffer.from(jsonl)]), { stream: keys.stream('in'), source: 'dev', maxRecordBytes: 65536 });
    await waitFor('every record stored', async () => {
      const s = await pipelineStatus(redis, config);
      return s.stored === 500 && isIdle(s);
    }, 240_000, 200);
  } finally {
    await stopAll(workers);
  }
  for (const id of titles.keys()) {
    const doc = await redis.hget(keys.product(id), 'doc');
    if (doc) envelopes.push(JSON.parse(doc) as Envelope);
  }
  const reviewed = new Set((await redis.xrangeBuffer(keys.stream('review'), '-', '+')).map(([, f]) => decodeEnvelope(entryFields(f).payload!).key));
  assert.is(envelopes.length, 500);
  assert.is(await redis.xlen(keys.dlq), 0);

  let extracted = 0;
  for (const env of envelopes) {
    const cls = env.outputs.classify as { category: string; confidence: number };
    const extractStage = env.hops.map((h) => h.stage).find((s) => s.startsWith('extract.'));
    assert.is(reviewed.has(env.key), cls.confidence < 0.4, `${env.key} (confidence ${cls.confidence}) review fan-out`);
    assert.is(extractStage, `extract.${GROUP[cls.category]}`, `${env.key} (${cls.category})`);
    const out = env.outputs[extractStage!] as { entities: Entity[]; brand?: string; mpn?: string };
    const text = (env.outputs.preprocess as { text: string }).text;
    for (const e of out.entities) {
      extracted++;
      assert.is(text.slice(e.start, e.end), e.text, `${env.key} span offsets`);
      assert.ok(titles.get(env.key)!.includes(e.text), `${env.key}: "${e.text}" is not in the title`);
    }
    const hasId = Boolean(out.mpn) || out.entities.some((e) => e.type === 'GTIN');
    assert.is(env.hops.some((h) => h.stage === 'validate'), hasId, `${env.key} identifier routing`);
  }
  assert.ok(extracted > 500, `only ${extracted} entities extracted from 500 titles`);
});

test.after(async () => {
  redis.disconnect();
  await server.close();
});
test.run();
