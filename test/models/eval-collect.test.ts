/**
 * eval's outcomes on a real Redis: a record that was stored and also sent to review (the default
 * routes fan low-confidence records out to review) is counted as sent to review; the outcomes line
 * had said "review 0" while 212 dev records had gone there.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Keys } from '../../lib/redis/keys.js';
import { encodeEnvelope, FIELD_ENVELOPE, FIELD_KEY, newEnvelope } from '../../lib/stream/codec.js';
import { collectOutcomes } from '../../training/eval/collect.js';
import { formatReport } from '../../training/eval/report.js';
import { evalScores } from '../helpers/eval-scores.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';

const { redis } = await redisForFile(test);

test('stored and sent to review, review only, stored only: each known; the outcomes line counts every one sent to review', async () => {
  const keys = new Keys(randomPipeline('ev'));
  const envelope = (id: string, confidence: number) => ({
    ...newEnvelope({ id, title: `title ${id}` }),
    outputs: { classify: { category: 'audio', confidence } },
  });
  for (const [id, confidence] of [
    ['both', 0.3],
    ['stored', 0.9],
  ] as const) {
    await redis.hset(keys.product(id), 'doc', JSON.stringify(envelope(id, confidence)));
  }
  for (const id of ['both', 'review']) await redis.xadd(keys.stream('review'), '*', FIELD_KEY, id, FIELD_ENVELOPE, encodeEnvelope(envelope(id, 0.3)));
  const out = await collectOutcomes(redis, keys, ['both', 'review', 'stored', 'lost'], 'review');
  assert.equal(
    ['both', 'review', 'stored', 'lost'].map((id) => [out.get(id)?.where, out.get(id)?.review]),
    [
      ['stored', true],
      ['review', true],
      ['stored', false],
      [undefined, undefined],
    ],
  );
  const sent = [...out.values()].filter((o) => o.review).length;
  const line = formatReport(evalScores({ records: 4, sent: 4, where: { stored: 2, review: 1, dlq: 0, missing: 1 }, sentToReview: sent }))[1];
  assert.is(line, 'outcomes: stored 2, review 1, dlq 0, missing 1; sent to review 2 (stored ones included)');
});

test.run();
