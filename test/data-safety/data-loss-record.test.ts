/**
 * The data-loss record's times (`{p}:data-lost`, lib/stream/data-loss.ts recordDataLoss): reports
 * come from several workers and the API server, each with its own clock and in any order, so a
 * report may carry a time earlier than the first one's `at`; `lastAt` is never earlier than `at`,
 * as written and as read (`GET /v1/data-loss`, `pipeline health`: lib/ops/data-loss.ts readDataLoss).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ackDataLoss, dataLossSentence, readDataLoss } from '../../lib/ops/data-loss.js';
import { memoryMetrics } from '../../lib/observe/metrics.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import { recordDataLoss, type DataLossWitness } from '../../lib/stream/data-loss.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';

const { redis } = await redisForFile(test);
const witness = (stage: string, consumer: string): DataLossWitness => ({ stage, consumer, logger: silentLogger, metrics: memoryMetrics() });

test('a report with an earlier time after one with a later time (another clock, another order) keeps lastAt at or after at (before: lastAt 60 s before at)', async () => {
  const pipeline = randomPipeline('dl');
  const keys = new Keys(pipeline);
  const first = 1_800_000_000_000;
  await recordDataLoss(redis, keys, 'marker_gone', keys.epoch, 'a', witness('classify', 'fast-clock-1-0'), first);
  await recordDataLoss(redis, keys, 'group_vanished', keys.stream('in'), 'a', witness('preprocess', 'slow-clock-1-0'), first - 60_000);
  const stored = await redis.hgetall(keys.dataLost);
  assert.equal([stored.at, stored.lastAt, stored.reports], [String(first), String(first), '2'], JSON.stringify(stored));
  const [record] = await readDataLoss(redis, { pipeline });
  assert.equal([record!.at, record!.lastAt, record!.consumer], [first, first, 'fast-clock-1-0']);
  // A later report by a clock behind the latest one does not move lastAt back either.
  await recordDataLoss(redis, keys, 'group_vanished', keys.stream('in'), 'a', witness('store', 'later-1-0'), first + 5_000);
  await recordDataLoss(redis, keys, 'group_vanished', keys.stream('in'), 'a', witness('match', 'behind-1-0'), first + 1_000);
  assert.is((await redis.hget(keys.dataLost, 'lastAt'))!, String(first + 5_000));
});

test('a record an older release wrote with lastAt before at reads with lastAt = at (GET /v1/data-loss, pipeline health)', async () => {
  const pipeline = randomPipeline('dl');
  const keys = new Keys(pipeline);
  const at = 1_800_000_000_000;
  await redis.hset(keys.dataLost, {
    at: String(at),
    what: 'marker_gone',
    stage: 'api',
    consumer: 'h-1',
    stream: keys.epoch,
    seen: '',
    reports: '2',
    lastAt: String(at - 60_000),
  });
  const [record] = await readDataLoss(redis, { pipeline });
  assert.equal([record!.at, record!.lastAt, record!.reports], [at, at, 2]);
});

test('a record left with its time and no details (its reporter died between writes) is completed by the next report (before: blanks for good)', async () => {
  const pipeline = randomPipeline('dl');
  const keys = new Keys(pipeline);
  const at = 1_800_000_000_000;
  // What a reporter of the two-step write (HSETNX at, then HSET the details) left when it died between them.
  await redis.hset(keys.dataLost, 'at', String(at));
  await recordDataLoss(redis, keys, 'group_vanished', keys.stream('in'), 'e1', witness('classify', 'next-1-0'), at + 1_000);
  const [record] = await readDataLoss(redis, { pipeline });
  assert.equal(
    [record!.at, record!.what, record!.stage, record!.consumer, record!.stream, record!.seen, record!.reports],
    [at, 'group_vanished', 'classify', 'next-1-0', keys.stream('in'), 'e1', 1],
  );
});

test('a later report changes none of the details of the first', async () => {
  const pipeline = randomPipeline('dl');
  const keys = new Keys(pipeline);
  await recordDataLoss(redis, keys, 'marker_gone', keys.epoch, 'e1', witness('store', 'first-1-0'), 1_800_000_000_000);
  await recordDataLoss(redis, keys, 'group_vanished', keys.stream('in'), 'e2', witness('match', 'second-1-0'), 1_800_000_001_000);
  const stored = await redis.hgetall(keys.dataLost);
  assert.equal(
    [stored.what, stored.stage, stored.consumer, stored.stream, stored.seen, stored.reports],
    ['marker_gone', 'store', 'first-1-0', keys.epoch, 'e1', '2'],
  );
});

test('a record with a time and no details (an older reporter died between its writes) reads as unrecorded, with no blanks in the sentence', async () => {
  const pipeline = randomPipeline('dl');
  const keys = new Keys(pipeline);
  await redis.hset(keys.dataLost, { at: String(1_800_000_000_000), reports: '1' });
  const records = await readDataLoss(redis, { pipeline });
  assert.is(records[0]!.what, 'unrecorded');
  const sentence = dataLossSentence(records)!;
  assert.match(sentence, 'a worker saw that Redis lost data (the details of the report were not written) (stream not recorded; 1 report)');
  assert.not.match(sentence, /undefined|\(\)/);
});

test('after an acknowledgement, a late report of the same loss (the marker seen before it) raises no alarm; a loss after it does (before: the late report raised it again)', async () => {
  const pipeline = randomPipeline('dl');
  const keys = new Keys(pipeline);
  const at = 1_800_000_000_000;
  await recordDataLoss(redis, keys, 'group_vanished', keys.stream('in'), 'm0', witness('classify', 'fast-1-0'), at);
  assert.is((await ackDataLoss(redis, { pipeline }, at + 1_000)).length, 1);
  assert.equal(await readDataLoss(redis, { pipeline }), []);
  // The API server's watch reads the marker later than the workers: it saw m0 too.
  await recordDataLoss(redis, keys, 'marker_changed', keys.epoch, 'm0', witness('api', 'h-1'), at + 2_000);
  assert.equal(await readDataLoss(redis, { pipeline }), [], 'the same loss: still acknowledged');
  assert.equal(await ackDataLoss(redis, { pipeline }), [], 'nothing left to acknowledge');
  // Redis loses data again: the reporters saw the marker written after the first loss.
  await recordDataLoss(redis, keys, 'marker_gone', keys.epoch, 'm1', witness('store', 'later-1-0'), at + 60_000);
  const [again] = await readDataLoss(redis, { pipeline });
  assert.equal(
    [again?.what, again?.stage, again?.consumer, again?.seen, again?.at, again?.reports, again?.lastAt],
    ['marker_gone', 'store', 'later-1-0', 'm1', at + 60_000, 1, at + 60_000],
  );
});

test.run();
