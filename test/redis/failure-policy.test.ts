import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BadRecordError, DecodeError, FunctionsMissingError, PermissionError, RouteError, StageError, TransientError } from '../../lib/core/errors.js';
import {
  classify,
  decide,
  dependencyOf,
  isolateEach,
  isPermissionRefusal,
  isPostgresRefusal,
  isTransientPgError,
  isTransientRedisError,
  isWriteRefused,
  outageMetric,
  shouldReconnect,
  waitInPlace,
} from '../../lib/core/failure-policy.js';

const reply = (msg: string) => Object.assign(new Error(msg), { name: 'ReplyError' });
const pg = (code: string, msg = 'pg says no') => Object.assign(new Error(msg), { code });
const policy = { maxDeliveries: 3, retryBaseMs: 100, retryMaxMs: 1000 };

test('Redis refusing because it is full or not serving (OOM, LOADING, BUSY, TRYAGAIN, CLUSTERDOWN, MASTERDOWN, READONLY) is an outage, with its own alert metric', () => {
  const oom = reply("OOM command not allowed when used memory > 'maxmemory'. script: 3b93, on @user_script:1.");
  assert.equal(classify(oom), { class: 'transient', outage: 'redis_oom' });
  assert.is(outageMetric(oom), 'redis.oom');
  for (const m of [
    'LOADING Redis is loading the dataset in memory',
    'BUSY Redis is busy running a script.',
    'TRYAGAIN Multiple keys request during rehashing of slot',
    'CLUSTERDOWN The cluster is down',
    'MASTERDOWN Link with MASTER is down',
    "READONLY You can't write against a read only replica.",
    'ERR max number of clients reached',
  ]) {
    assert.equal(classify(reply(m)), { class: 'transient', outage: 'redis_unavailable' }, m);
    assert.is(outageMetric(reply(m)), 'redis.unavailable');
    assert.ok(isTransientRedisError(reply(m)), m);
  }
});

test('Redis unable to persist (MISCONF, RDB or AOF, plain or inside a script) is an outage of its own: redis.misconf, a write refused whole, no reconnect, never poison', () => {
  for (const m of [
    "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled.",
    "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. script: bd6f, on @user_script:1.",
    'MISCONF Errors writing to the AOF file: No space left on device',
  ]) {
    const err = reply(m);
    assert.equal(classify(err), { class: 'transient', outage: 'redis_misconf' }, m);
    assert.is(outageMetric(err), 'redis.misconf');
    assert.ok(isTransientRedisError(err) && isWriteRefused(err), m);
    assert.is(shouldReconnect(err), false, 'the connection is fine');
    assert.is(dependencyOf(err), 'Redis (cannot persist to disk)');
    assert.equal(decide(err, 1, policy).action, 'retry_later');
    assert.is((decide(err, 1, policy) as { attempt: number }).attempt, 1, 'no delivery counted');
  }
  // A record's error that only quotes the code is no outage.
  assert.is(classify(reply("ERR bad record: title 'MISCONF Redis is configured to save'")).class, 'poison');
  assert.is(isWriteRefused(reply('LOADING Redis is loading the dataset in memory')), false, 'not refused whole: may be retried in the call');
});

test('Redis errors about the command or the data are not outages: BUSYGROUP, WRONGTYPE, NOSCRIPT are poison (retried, counted)', () => {
  for (const m of [
    'BUSYGROUP Consumer Group name already exists',
    'WRONGTYPE Operation against a key holding the wrong kind of value',
    'NOSCRIPT No matching script',
    'ERR unknown command',
  ]) {
    assert.equal(classify(reply(m)), { class: 'poison' }, m);
    assert.not.ok(isTransientRedisError(reply(m)), m);
    assert.is(outageMetric(reply(m)), undefined);
  }
});

test("an ACL refusal (NOPERM, or a function's command refused) is no record's fault: waited out (redis_noperm, redis.noperm), never dead-lettered; not retried by the CLI", () => {
  for (const m of [
    'NOPERM this user has no permissions to access one of the keys used as arguments',
    "NOPERM this user has no permissions to run the 'xreadgroup' command",
    "NOPERM User products-match has no permissions to run the 'xautoclaim' command",
    "ERR The user executing the script can't run this command or subcommand script: sle_87984e5595c8_claim_2, on @user_function:30.",
    "ERR The user executing the script can't access at least one of the keys mentioned in the command arguments script: f, on @user_function:2.",
  ]) {
    assert.equal(classify(reply(m)), { class: 'transient', outage: 'redis_noperm' }, m);
    assert.ok(isPermissionRefusal(reply(m)), m);
    assert.is(outageMetric(reply(m)), 'redis.noperm');
    assert.not.ok(isTransientRedisError(reply(m)), `${m}: the CLI and the producer exit 13 on it, they do not wait`);
    // Past maxDeliveries, and no delivery counted: retried later, never dead-lettered.
    assert.equal(
      decide(reply(m), 5, policy, () => 0.5),
      { action: 'retry_later', attempt: 5, delayMs: 750, class: 'transient' },
      m,
    );
  }
  const refused = new PermissionError('u', 'XREADGROUP', ['{p}:s'], "NOPERM this user has no permissions to run the 'xreadgroup' command");
  assert.equal(classify(refused), { class: 'transient', outage: 'redis_noperm' });
  assert.ok(waitInPlace([refused, refused], false));
  // A missing Functions library stays what it was, whatever its cause (FUNCTION LOAD refused: NOPERM).
  const missing = new FunctionsMissingError('library missing', { cause: reply("NOPERM this user has no permissions to run the 'function|load' command") });
  assert.equal(classify(missing), { class: 'transient', outage: 'redis_unavailable' });
});

test('connection failures are transient for every source; Postgres SQLSTATEs of outages are, data errors are not', () => {
  assert.equal(classify(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })), { class: 'transient', outage: 'connection' });
  assert.ok(isTransientRedisError(new Error('Connection is closed.')));
  assert.ok(isTransientPgError(new AggregateError([Object.assign(new Error('connect ECONNREFUSED ::1:5432'), { code: 'ECONNREFUSED' })])));
  for (const code of ['08006', '53300', '57P01', '57P03', '57014', '40001', '40P01'])
    assert.equal(classify(pg(code)), { class: 'transient', outage: 'postgres_unavailable' }, code);
  // A database that refuses every write whatever the record (a rotated password, a demoted primary, a
  // revoked grant, the schema not migrated): every record had been dead-lettered within seconds.
  for (const code of ['3D000', '25006', '55P03', '42P01', '42703'])
    assert.equal(classify(pg(code)), { class: 'transient', outage: 'postgres_unavailable' }, code);
  // The role refused (a privilege, its login): waited out too, but a configuration error, not an
  // outage (start checks refuse it; it had been logged as "unreachable").
  for (const code of ['28P01', '28000', '42501']) {
    assert.equal(classify(pg(code)), { class: 'transient', outage: 'postgres_noperm' }, code);
    assert.ok(isPostgresRefusal(pg(code)) && !isTransientPgError(pg(code)), code);
    assert.is(outageMetric(pg(code)), 'postgres.noperm', code);
    assert.is(decide(pg(code), 1, { maxDeliveries: 1, retryBaseMs: 1, retryMaxMs: 1 }).action, 'retry_later', code);
  }
  assert.equal(classify(Object.assign(new Error('getaddrinfo ENOTFOUND db.internal'), { code: 'ENOTFOUND' })).class, 'transient', 'a DNS blip');
  assert.ok(isTransientPgError(new Error('the database system is starting up')));
  // The record's own data: a bad value, a duplicate key, a string too long.
  for (const code of ['22P02', '23505', '22001', '57P04']) assert.equal(classify(pg(code)).class, 'poison', code);
});

test("the pipeline's own errors carry their class: bad data is permanent, TransientError keeps its cause's outage", () => {
  for (const e of [new BadRecordError('x'), new DecodeError('x'), new RouteError('x')]) assert.is(classify(e).class, 'permanent');
  assert.is(classify(new StageError('x')).class, 'poison');
  assert.is(classify('a string').class, 'poison');
  assert.equal(classify(new TransientError('down')), { class: 'transient', outage: 'dependency' });
  assert.equal(classify(new TransientError('store down', { cause: reply('OOM command not allowed') })), { class: 'transient', outage: 'redis_oom' });
  assert.equal(classify(new TransientError('pg down', { outage: 'postgres_unavailable' })), { class: 'transient', outage: 'postgres_unavailable' });
});

test('decide: an outage retries later without counting a delivery, however often; bad data is dead-lettered at once; poison after maxDeliveries', () => {
  const half = () => 0.5;
  assert.equal(decide(reply('OOM command not allowed'), 99, policy, half), { action: 'retry_later', attempt: 99, delayMs: 750, class: 'transient' });
  assert.equal(decide(new BadRecordError('x'), 1, policy), { action: 'dead_letter', reason: 'permanent_error', class: 'permanent' });
  assert.equal(decide(new Error('boom'), 1, policy, half), { action: 'retry_later', attempt: 2, delayMs: 75, class: 'poison' });
  assert.equal(decide(new Error('boom'), 2, policy, half), { action: 'retry_later', attempt: 3, delayMs: 150, class: 'poison' });
  assert.equal(decide(new Error('boom'), 3, policy), { action: 'dead_letter', reason: 'max_deliveries', class: 'poison' });
});

test('waitInPlace only when every message failed transiently and the process is not stopping; isolateEach never for an outage', () => {
  const oom = reply('OOM command not allowed');
  assert.ok(waitInPlace([oom, new TransientError('x')], false));
  assert.not.ok(waitInPlace([oom, oom], true));
  assert.not.ok(waitInPlace([oom, undefined], false));
  assert.not.ok(waitInPlace([oom, new Error('boom')], false));
  assert.not.ok(waitInPlace([], false));
  assert.ok(isolateEach(new Error('boom'), 2));
  assert.not.ok(isolateEach(new Error('boom'), 1));
  assert.not.ok(isolateEach(oom, 5));
  assert.ok(shouldReconnect(reply("READONLY You can't write against a read only replica.")));
  assert.not.ok(shouldReconnect(reply('OOM command not allowed')));
});

test.run();
