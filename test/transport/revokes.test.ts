/**
 * The revoke cut-off rule (lib/stream/revokes.ts): a version is revoked when its origin (the input
 * entry id) is at or before the input stream's last id at the revoke, compared as Redis stream ids
 * (a rebuilt version: when it re-entered the pipeline, against the revoke's own entry id);
 * and a worker's in-memory list, read from the revokes stream in chunks and forgotten after revokeTtlMs.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Keys } from '../../lib/redis/keys.js';
import { isRevokedVersion, RevokeList } from '../../lib/stream/revokes.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';

const { redis } = await redisForFile(test);

test('cut-off: at or before is revoked, after is not; ids compared as numbers (ms, then a sequence past 2^53), not as text', () => {
  const m = { cutoff: '1700000000000-5', entry: '1700000000900-0' };
  assert.ok(isRevokedVersion(m, '1700000000000-5'), 'the last entry at the revoke');
  assert.ok(isRevokedVersion(m, '1700000000000-4'));
  assert.ok(isRevokedVersion(m, '999999999999-9'), 'fewer digits, earlier (as text it is later)');
  assert.not.ok(isRevokedVersion(m, '1700000000000-6'), 'the next entry: submitted after');
  assert.not.ok(isRevokedVersion(m, '1700000000001-0'));
  assert.not.ok(isRevokedVersion({ cutoff: '5-9007199254740993', entry: '9-0' }, '5-9007199254740994'), 'sequences past a double');
  assert.ok(isRevokedVersion({ cutoff: '5-9007199254740993', entry: '9-0' }, '5-9007199254740992'));
  assert.not.ok(isRevokedVersion({ cutoff: '0-0', entry: '9-0' }, '1-0'), 'revoked before anything was produced: every version is after');
});

test('cut-off: a version without an origin (from before origins) is older than any revoke: revoked', () => {
  assert.ok(isRevokedVersion({ cutoff: '0-0', entry: '9-0' }, undefined));
});

test("a rebuilt version (reprocess, review decision) is revoked when it re-entered the pipeline at or before the marker's entry, whatever its origin", () => {
  const m = { cutoff: '1700000000000-5', entry: '1700000000900-0' };
  const origin = '1700000000000-3'; // the stored version's, before the cut-off
  assert.ok(isRevokedVersion(m, origin, '1700000000800-0'), 'rebuilt before the revoke');
  assert.ok(isRevokedVersion(m, origin, '1700000000900-0'));
  assert.not.ok(isRevokedVersion(m, origin, '1700000000901-0'), 'rebuilt after the revoke: runs');
  assert.not.ok(isRevokedVersion(m, '1700000000001-0', '1700000000901-0'), 'its origin does not decide');
});

test('RevokeList: reads every marker (past one chunk), answers per key and version, a later revoke of a key replaces its cut-off, forgets after ttl', async () => {
  const keys = new Keys(randomPipeline());
  const p = redis.pipeline();
  for (let i = 0; i < 1203; i++) p.xadd(keys.revokes, '*', 'k', `id${i}`, 'c', '100-0', 'b', 'cli:ann');
  await p.exec();
  const list = new RevokeList(keys, 60_000);
  assert.is(list.match('id0', '1-0'), undefined, 'nothing known before the first poll');
  await list.poll(redis);
  assert.is(list.size, 1203);
  assert.is(list.match('id1202', '100-0')?.by, 'cli:ann');
  assert.is(list.match('id1202', '100-1'), undefined);
  assert.is(list.match('other', '1-0'), undefined);
  await redis.xadd(keys.revokes, '*', 'k', 'id0', 'c', '200-0', 'b', 'api:bob', 'r', 'again');
  await list.poll(redis);
  assert.equal(list.match('id0', '150-0')?.reason, 'again', 'the later cut-off');
  assert.is(list.size, 1203);
  await list.poll(redis, Date.now() + 60_001);
  assert.is(list.size, 0, 'forgotten after ttl');
});

test('RevokeList: a key revoked again outlives its first marker; a poll with many markers held costs what it drops, not a scan of them all', async () => {
  const keys = new Keys(randomPipeline());
  const ttl = 60_000;
  const list = new RevokeList(keys, ttl);
  const first = await redis.xadd(keys.revokes, '*', 'k', 'a', 'c', '1-0', 'b', 'cli:ann');
  await redis.xadd(keys.revokes, '*', 'k', 'b', 'c', '1-0', 'b', 'cli:ann');
  await new Promise((res) => setTimeout(res, 20));
  const again = await redis.xadd(keys.revokes, '*', 'k', 'a', 'c', '2-0', 'b', 'cli:bob');
  await list.poll(redis);
  const firstAt = Number(first!.split('-')[0]);
  const againAt = Number(again!.split('-')[0]);
  await list.poll(redis, againAt + ttl - 1); // past the first two markers' ttl, not the third's
  assert.is(list.size, 1);
  assert.is(list.match('a', '2-0')?.by, 'cli:bob', 'the later marker of a is kept');
  assert.is(list.match('b', '1-0'), undefined, 'b forgotten');
  assert.ok(againAt > firstAt);

  // 20000 markers held, none due: a poll that finds nothing new must not walk them all.
  const many = new Keys(randomPipeline());
  for (let i = 0; i < 20_000; i += 10_000) {
    const p = redis.pipeline();
    for (let j = i; j < i + 10_000; j++) p.xadd(many.revokes, '*', 'k', `id${j}`, 'c', '1-0', 'b', 'cli:ann');
    await p.exec();
  }
  const big = new RevokeList(many, ttl);
  await big.poll(redis);
  assert.is(big.size, 20_000);
  await big.poll(redis);
  // The expiry looks at the oldest marker only (none due): it had walked all 20000 on every poll.
  assert.is(big.examinedLastPoll, 1);
  assert.is(big.size, 20_000);
  await redis.del(many.revokes);
});

test.run();
