/**
 * A group's lag after a failover and a failback, on two real redis-servers (the pair a Cluster
 * shard is): a former master that rejoins as a replica by partial resync keeps its group's
 * `entries-read` counter, the replication of the new master's reads advances only its
 * last-delivered-id, and once promoted again it reports a lag too high by every entry read
 * meanwhile, for good. A cluster soak (Redis 7.0.15, two failovers) saw idle shards report 345
 * and 356: `pipeline status` and the console showed 701 waiting on an idle pipeline, isIdle never
 * held, and backpressure counted the phantom entries against `maxLag`.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Redis } from 'ioredis';
import { resolveConfig } from '../../lib/config/load.js';
import { isIdle, pairs, pipelineStatus } from '../../lib/ops/inspect.js';
import { Backpressure } from '../../lib/producer/backpressure.js';
import { Keys } from '../../lib/redis/keys.js';
import { REVIEW_GROUP } from '../../lib/console/review.js';
import { reviewCounts } from '../../lib/console/review-trimmed.js';
import { createPrometheus } from '../../lib/api/metrics-route.js';
import { ConsoleSampler, type ConsoleSample } from '../../lib/console/sampler.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { renderFrame, TopSampler } from '../../scripts/commands/top.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';

const a = await startRedis();
const b = await startRedis();
const ra = client(a.url);
const rb = client(b.url);

/** `replica` follows `master` (REPLICAOF), its link up. */
async function follow(replica: Redis, master: { port: number }): Promise<void> {
  await replica.call('REPLICAOF', '127.0.0.1', String(master.port));
  await waitFor('replication link up', async () => /master_link_status:up/.test(await replica.info('replication')), 20_000, 50);
}
/** Add `n` entries and read them into `group` (acked and trimmed, as a stage's retention does, with `ack`); wait until the replica has it. */
async function readAll(r: Redis, key: string, n: number, group = 'work', ack = true): Promise<void> {
  for (let i = 0; i < n; i++) await r.xadd(key, '*', 'k', `r${i}`);
  const got = (await r.xreadgroup('GROUP', group, 'c1', 'COUNT', 1000, 'STREAMS', key, '>')) as [string, [string, string[]][]][];
  if (ack) {
    await r.xack(key, group, ...got[0]![1].map(([id]) => id));
    await r.xtrim(key, 'MAXLEN', 0);
  }
  assert.is(await r.call('WAIT', '1', '5000'), 1, 'the replica has it');
}
/**
 * `before` entries read on a, a failover to b (a rejoins as its replica by partial resync: it keeps
 * its counters), `during` entries read on b, and a failback: a is master again, b its replica.
 */
async function failOverAndBack(key: string, group: string, before: number, during: number, ack = true): Promise<void> {
  await ra.xgroup('CREATE', key, group, '$', 'MKSTREAM');
  await readAll(ra, key, before, group, ack);
  await rb.call('REPLICAOF', 'NO', 'ONE');
  await follow(ra, b);
  await readAll(rb, key, during, group, ack);
  await ra.call('REPLICAOF', 'NO', 'ONE');
  await follow(rb, a);
}
const reported = async (r: Redis, key: string) => pairs(((await r.xinfo('GROUPS', key)) as unknown[][])[0]!).get('lag');

await follow(rb, a);

test('a master failed over and back reports a lag its empty stream cannot hold: status reads 0 (idle) and backpressure is clear; a real backlog is still counted', async () => {
  const pipeline = randomPipeline('fo');
  const config = resolveConfig(
    { pipeline, input: 'in', stages: [{ name: 'work', kind: 'preprocess', input: 'in' }], routes: { work: [{ to: 'out' }] }, streams: { terminal: ['out'] } },
    'test',
    { env: { REDIS_URL: a.url } },
  );
  const key = new Keys(pipeline).stream('in');
  await failOverAndBack(key, 'work', 10, 25);
  assert.is(Number(await reported(ra, key)), 25, 'precondition: Redis reports the 25 entries read on b as waiting');
  assert.is(await ra.xlen(key), 0, 'precondition: nothing is waiting');

  const st = await pipelineStatus(ra, config);
  assert.is(st.streams.find((s) => s.stage === 'work')!.group!.lag, 0, 'the group was delivered the last entry');
  assert.ok(isIdle(st), 'idle');
  const bp = new Backpressure(ra, { stream: key, group: 'work', maxLag: 10, cacheMs: 0 });
  assert.equal([(await bp.check()).clear, (await bp.check()).lag], [true, 0], 'no phantom backlog against maxLag');

  // A real backlog behind the wrong counter: 4 entries not yet read.
  for (let i = 0; i < 4; i++) await ra.xadd(key, '*', 'k', `w${i}`);
  assert.is(Number(await reported(ra, key)), 29, 'precondition: still 25 too many');
  const busy = (await pipelineStatus(ra, config)).streams.find((s) => s.stage === 'work')!.group!;
  assert.equal([busy.lag, busy.lagEstimated], [4, true], 'the entries after last-delivered-id, counted');
  assert.is((await bp.check()).lag, 4, 'bounded by the stream');
});

test('the console counts the review items a failed-back master holds, not the ones its counter makes up (badge and "of N" had counted the entries listed on the other master again)', async () => {
  const keys = new Keys(randomPipeline('fr'));
  // Items listed by the console (delivered to its group, pending until decided) on a, then on b.
  await failOverAndBack(keys.stream('review'), REVIEW_GROUP, 4, 6, false);
  assert.is(Number(await reported(ra, keys.stream('review'))), 6, 'precondition: Redis reports the 6 listed on b as undelivered');
  assert.is((await reviewCounts(ra, keys)).open, 10, 'the 10 items pending in the group, nothing undelivered');
  await ra.xadd(keys.stream('review'), '*', 'k', 'new');
  assert.is((await reviewCounts(ra, keys)).open, 11, 'and one not yet listed');
});

test('entries trimmed before the console listed them are counted as they were on a failed-back master, not with the items listed on the other master (review-unlisted-2 had added those from its stale read counter)', async () => {
  const keys = new Keys(randomPipeline('fu'));
  const review = keys.stream('review');
  await failOverAndBack(review, REVIEW_GROUP, 4, 6, false);
  // 3 entries the console never listed, then a trim past its group (streams.terminalMaxAgeMs, or an XTRIM by hand).
  for (let i = 0; i < 3; i++) await ra.xadd(review, '*', 'k', `u${i}`);
  assert.is(Number(await reported(ra, review)), 9, 'precondition: Redis counts the 6 listed on b as never read');
  await ra.xtrim(review, 'MAXLEN', 0);
  const c = await reviewCounts(ra, keys);
  assert.equal([c.unlisted, c.trimmed, c.open], [3, 10, 0], 'the 3 never listed, the 10 listed ones trimmed');
  assert.is((await reviewCounts(ra, keys)).unlisted, 3, 'counted once');
});

test('a failed-back master whose console decided items before the trim: the count of the entries after the group puts its read counter right, so a trim past the group later counts only the never listed ones', async () => {
  const keys = new Keys(randomPipeline('fd'));
  const review = keys.stream('review');
  await failOverAndBack(review, REVIEW_GROUP, 4, 6, false);
  // 3 of the 10 listed items decided (acked) on a, then 3 entries the console never listed.
  const listed = (await ra.xpending(review, REVIEW_GROUP, '-', '+', 3)) as [string][];
  assert.is(await ra.xack(review, REVIEW_GROUP, ...listed.map(([id]) => id)), 3);
  for (let i = 0; i < 3; i++) await ra.xadd(review, '*', 'k', `u${i}`);
  assert.is(Number(await reported(ra, review)), 9, 'precondition: the 6 listed on b counted as not listed');
  // The console's sample: the lag is not believed, the entries after the group are counted.
  assert.is((await reviewCounts(ra, keys)).open, 10, 'the 7 undecided and the 3 not yet listed');
  assert.is(Number(await reported(ra, review)), 3, "and Redis' lag is right again");
  await ra.xtrim(review, 'MAXLEN', 0);
  const c = await reviewCounts(ra, keys);
  assert.equal([c.unlisted, c.trimmed, c.open], [3, 7, 0], 'the 3 never listed (the 3 decided ones are not)');
});

test('a failed-back review stream that keeps decided items: the console does not believe a lag from a counter below one it saw (the badge had counted the items listed on the other master again)', async () => {
  const keys = new Keys(randomPipeline('fk'));
  const review = keys.stream('review');
  await ra.xgroup('CREATE', review, REVIEW_GROUP, '$', 'MKSTREAM');
  // 20 listed on a, 16 of them decided (their entries stay until streams.terminalMaxAgeMs), a console sample.
  await readAll(ra, review, 20, REVIEW_GROUP, false);
  const decided = (await ra.xpending(review, REVIEW_GROUP, '-', '+', 16)) as [string][];
  await ra.xack(review, REVIEW_GROUP, ...decided.map(([id]) => id));
  assert.is((await reviewCounts(ra, keys)).open, 4);
  await ra.call('WAIT', '1', '5000');
  // A failover: 6 listed on b, a console sample there; a failback.
  await rb.call('REPLICAOF', 'NO', 'ONE');
  await follow(ra, b);
  await readAll(rb, review, 6, REVIEW_GROUP, false);
  assert.is((await reviewCounts(rb, keys)).open, 10);
  assert.is(await rb.call('WAIT', '1', '5000'), 1);
  await ra.call('REPLICAOF', 'NO', 'ONE');
  await follow(rb, a);
  await ra.xadd(review, '*', 'k', 'new');
  assert.is(Number(await reported(ra, review)), 7, 'precondition: the 6 listed on b counted as not listed, a lag the 17 decided-or-new entries can hold');
  assert.is((await reviewCounts(ra, keys)).open, 11, 'the 10 undecided and the new one');
  assert.is(Number(await reported(ra, review)), 1, "and Redis' lag is right again");
  assert.is((await reviewCounts(ra, keys)).open, 11, 'and stays right');
});

test("/metrics' messages_in after a failback counts the entries read since, not the failed-back master's whole count again (its short counter had read as a Redis restart)", async () => {
  const pipeline = randomPipeline('fp');
  const config = resolveConfig(
    { pipeline, input: 'in', stages: [{ name: 'work', kind: 'preprocess', input: 'in' }], routes: { work: [{ to: 'out' }] }, streams: { terminal: ['out'] } },
    'test',
    { env: { REDIS_URL: a.url } },
  );
  const key = new Keys(pipeline).stream('in');
  let sample: ConsoleSample | undefined;
  const registry = createPrometheus(config, () => sample);
  const messagesIn = async () =>
    (await registry.getMetricsAsJSON()).find((m) => m.name.endsWith('messages_in_total'))!.values.find((v) => v.labels.stage === 'work')?.value;
  // The console samples the master of the moment: a, then b, then a again.
  const sampleOn = async (r: Redis) => {
    sample = await new ConsoleSampler({ redis: r, config, logger: silentLogger }).sampleOnce();
    assert.ok(sample, 'sampled');
    return messagesIn();
  };
  await ra.xgroup('CREATE', key, 'work', '$', 'MKSTREAM');
  await readAll(ra, key, 10, 'work');
  assert.is(await sampleOn(ra), 10);
  await rb.call('REPLICAOF', 'NO', 'ONE');
  await follow(ra, b);
  await readAll(rb, key, 25, 'work');
  assert.is(await sampleOn(rb), 35);
  await ra.call('REPLICAOF', 'NO', 'ONE');
  await follow(rb, a);
  assert.is(Number(pairs(((await ra.xinfo('GROUPS', key)) as unknown[][])[0]!).get('entries-read')), 10, "precondition: a's counter lost b's 25");
  assert.is(await sampleOn(ra), 35, 'nothing read since the failback');
  await readAll(ra, key, 4, 'work');
  assert.is(await sampleOn(ra), 39, 'the 4 read since the failback');
});

test('rates after a failback: the sample whose read counter went backwards has none (null, "-" in top), not 0; the next sample is right again', async () => {
  const pipeline = randomPipeline('fr');
  const config = resolveConfig(
    { pipeline, input: 'in', stages: [{ name: 'work', kind: 'preprocess', input: 'in' }], routes: { work: [{ to: 'out' }] }, streams: { terminal: ['out'] } },
    'test',
    { env: { REDIS_URL: a.url } },
  );
  const key = new Keys(pipeline).stream('in');
  // One connection that follows the master of the moment, as a Cluster client follows a failover.
  const follower = client(a.url);
  const moveTo = async (server: { port: number }) => {
    const ready = new Promise((res) => follower.once('ready', res));
    follower.options.port = server.port;
    follower.disconnect(true);
    await ready;
    assert.match(await follower.info('server'), new RegExp(`tcp_port:${server.port}\\b`), 'connected to the new master');
  };
  const top = new TopSampler(follower, config, 10);
  const sampler = new ConsoleSampler({ redis: follower, config, logger: silentLogger });
  const sample = async () => {
    const [frame, s] = [await top.frame(), await sampler.sampleOnce()];
    assert.ok(s, 'sampled');
    return { frame, row: frame.rows.find((r) => r.stage === 'work')!, stage: s.stages.find((x) => x.stage === 'work')!, at: s.at };
  };
  try {
    await ra.xgroup('CREATE', key, 'work', '$', 'MKSTREAM');
    await readAll(ra, key, 10, 'work');
    await sample();
    await rb.call('REPLICAOF', 'NO', 'ONE');
    await follow(ra, b);
    await readAll(rb, key, 25, 'work');
    await moveTo(b);
    const onB = await sample();
    assert.ok(onB.row.readRate! > 0 && onB.stage.inRate! > 0, 'the 25 read on b');
    await ra.call('REPLICAOF', 'NO', 'ONE');
    await follow(rb, a);
    await moveTo(a);
    assert.is(Number(pairs(((await ra.xinfo('GROUPS', key)) as unknown[][])[0]!).get('entries-read')), 10, "precondition: a's counter lost b's 25");
    const back = await sample();
    assert.is(back.row.readRate, null, 'top: no read rate from a counter that went from 35 to 10 (it read 0)');
    assert.equal([back.stage.inRate, back.stage.outRate], [null, null], 'console: no rates either (they read 0)');
    const cells = renderFrame(back.frame, 1000)
      .split('\n')
      .find((l) => l.startsWith('work '))!
      .trim()
      .split(/\s+/);
    assert.is(cells[7], '-', 'top shows the read rate as unknown');
    await readAll(ra, key, 4, 'work');
    const next = await sample();
    assert.is(Math.round((next.row.readRate! * (next.frame.at - back.frame.at)) / 1000), 4, 'top: the 4 read since the failback');
    assert.is(Math.round((next.stage.inRate! * (next.at - back.at)) / 1000), 4, 'console: the 4 read since the failback');
  } finally {
    follower.disconnect();
  }
});

test.after(async () => {
  ra.disconnect();
  rb.disconnect();
  await Promise.all([a.close(), b.close()]);
});

test.run();
