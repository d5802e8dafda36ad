/**
 * A field a reviewer cleared reaches training as cleared: the label says `"brand": null` (it had
 * left the field out, as for a product never given one) and the merge drops the train row's
 * brand (it had kept it, so the build trained on the brand the reviewer removed).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import { readLabels, writeLabelsJsonl } from '../../lib/console/labels.js';
import { decideReview } from '../../lib/console/review-decide.js';
import { listReview } from '../../lib/console/review-list.js';
import { Keys } from '../../lib/redis/keys.js';
import { encodeEnvelope, newEnvelope, type Envelope } from '../../lib/stream/codec.js';
import type { ProductRow } from '../../training/data.js';
import { mergeLabels } from '../../training/review-labels.js';
import { FAST } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);
const dir = mkdtempSync(join(tmpdir(), 'labels-cleared-'));

function config(pipeline: string) {
  return resolveConfig(
    {
      pipeline,
      input: 'in',
      defaults: FAST,
      stages: [
        { name: 'preprocess', kind: 'preprocess', input: 'in' },
        { name: 'classify', kind: 'classify', model: 'product-category' },
        { name: 'store', kind: 'store' },
      ],
      routes: { preprocess: [{ to: 'classify' }], classify: [{ when: { confidence: { lt: 0.5 } }, to: 'review' }, { to: 'store' }] },
    },
    'test',
    { env: { REDIS_URL: server.url } },
  );
}

/** A review item of `key` whose input carries a brand and an mpn (what the reviewer sees as extracted). */
async function reviewItem(keys: Keys, key: string): Promise<string> {
  const env: Envelope = {
    ...newEnvelope({ id: key, title: 'Tops Spiral Steno Book 6x9', brand: 'Tops', mpn: '8021' }),
    origin: '1-0',
    outputs: { classify: { category: 'office_supplies', confidence: 0.4 } },
    hops: [{ stage: 'classify', consumer: 'c', readAt: 1, doneAt: 1, batch: 1 }],
  };
  await redis.xadd(keys.stream('review'), '*', 'k', key, 'e', encodeEnvelope(env));
  return (await listReview(redis, keys)).find((i) => i.key === key)!.id;
}

/** `pipeline labels export`'s lines for the pipeline, as objects. */
async function exported(keys: Keys): Promise<Record<string, unknown>[]> {
  let text = '';
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  await writeLabelsJsonl((await readLabels(redis, keys)).labels, out);
  return text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('a cleared brand is exported as null, a corrected mpn as its value, a field never set is left out; the merge drops the train row’s brand', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  const cfg = config(pipeline);
  const cleared = await reviewItem(keys, 'wa-1');
  const untouched = await reviewItem(keys, 'wa-2');
  await decideReview(redis, cfg, keys, cleared, { category: 'office_supplies', fields: { brand: '', mpn: '75101' }, reviewer: 'admin-1' });
  await decideReview(redis, cfg, keys, untouched, { category: 'office_supplies', reviewer: 'admin-1' });
  const lines = await exported(keys);
  const [a, b] = ['wa-1', 'wa-2'].map((id) => lines.find((l) => l.id === id)!);
  assert.ok('brand' in a! && a!.brand === null, 'the cleared brand is said: null');
  assert.is(a!.mpn, '75101');
  assert.not.ok('gtin' in a!, 'a field the product never had and the reviewer did not touch is left out');
  assert.is(a!.decision, 'correct');
  assert.equal([b!.brand, b!.mpn], ['Tops', '8021'], 'an untouched item keeps the extracted fields');

  const file = join(dir, 'labels.jsonl');
  writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  const train: ProductRow[] = ['wa-1', 'wa-2'].map((id) => ({
    id,
    title: 'Tops Spiral Steno Book',
    category: 'office_supplies',
    brand: 'Tops',
    mpn: '8021',
    source_category: 'Office',
    source: 'shop',
  }));
  const m = mergeLabels(train, [], [file]);
  assert.equal(m.errors, []);
  assert.equal(m.train[0], {
    id: 'wa-1',
    title: 'Tops Spiral Steno Book 6x9',
    category: 'office_supplies',
    mpn: '75101',
    source_category: 'Office',
    source: 'console-review',
  });
  assert.is(m.train[1]!.brand, 'Tops');
  assert.ok(readFileSync(file, 'utf8').includes('"brand":null'));
});

test('merge: a blank brand in a labels file clears it too; a label without the field keeps the train row’s', () => {
  const file = join(dir, 'hand.jsonl');
  const line = (id: string, extra: Record<string, unknown>) =>
    JSON.stringify({ id, title: `t ${id}`, category: 'audio', decision: 'correct', reviewedAt: '2026-01-01T00:00:00Z', ...extra });
  writeFileSync(file, [line('x1', { brand: '  ' }), line('x2', {}), line('n1', { brand: null, mpn: 'M1' })].join('\n') + '\n');
  const row = (id: string): ProductRow => ({ id, title: id, category: 'audio', brand: 'B', mpn: 'M', source_category: 'r', source: 'shop' });
  const m = mergeLabels([row('x1'), row('x2')], [], [file]);
  assert.not.ok('brand' in m.train[0]!, 'blank: cleared');
  assert.is(m.train[0]!.mpn, 'M');
  assert.is(m.train[1]!.brand, 'B', 'absent: kept');
  assert.equal(m.train[2], { id: 'n1', title: 't n1', category: 'audio', mpn: 'M1', source_category: '*', source: 'console-review' });
});

test.after(async () => {
  rmSync(dir, { recursive: true, force: true });
});

test.run();
