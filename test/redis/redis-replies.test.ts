import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { classify, isPermissionRefusal, shouldReconnect } from '../../lib/core/failure-policy.js';
import {
  isClusterDown,
  isFunctionNotFound,
  isGroupExists,
  isInvalidStreamId,
  isKeyPermissionRefusal,
  isLibraryExists,
  isMissingGroup,
  isNoGroup,
  isNoPermission,
  isNoPermReply,
  isNoSuchKey,
  isAuthRefused,
  isDbOutOfRange,
  isMaxClients,
  isMisconf,
  isOutOfMemory,
  isReadOnly,
  isRedirectOrExhausted,
  isRedirectReply,
  isWrongType,
} from '../../lib/core/redis-replies.js';
import { diagnoseRedisError, plainRedisAt, probeRedis, type RedisFailure } from '../../lib/redis/diagnose.js';
import { Script } from '../../lib/redis/script.js';
import { RedisServer } from '../../lib/redis/server.js';
import { RedisCluster } from '../helpers/cluster.js';
import { allowWrites, refuseWrites } from '../helpers/misconf.js';
import { client, startRedis, waitFor } from '../helpers/redis.js';

/**
 * The predicates of lib/core/redis-replies.ts against replies provoked on real redis-servers: each
 * recognises its own reply and none of the others (a NOGROUP is no `no such key` of XINFO, a
 * BUSYGROUP no BUSY), so the sites that used their own regexes decide as before.
 */

/** The error `p` rejects with (fails the test when it resolves). */
async function replyOf(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected Redis to refuse the command');
}

let server: RedisServer;
let admin: Redis;
const replies = new Map<string, Error>();
/** What a `rediss://` client's plain PING probe finds at a plain Redis that cannot persist (it answers PING with MISCONF). */
let plainUnderMisconf: RedisFailure | undefined;

test.before(async () => {
  await provoke().catch((err: unknown) => {
    // uvu does not report a hook's error: say it, and fail every test.
    console.error('redis-replies: provoking the replies failed:', err);
    throw err;
  });
});

async function provoke(): Promise<void> {
  server = await startRedis();
  admin = client(server.url);
  await admin.xadd('s', '*', 'k', 'v');
  await admin.xgroup('CREATE', 's', 'g', '0');
  await admin.set('plain', 'x');
  await admin.call('ACL', 'SETUSER', 'narrow', 'on', '>pw', '~allowed:*', '+@all', '-xinfo', '-function');
  const narrow = client(server.url.replace('redis://', 'redis://narrow:pw@'));
  try {
    replies.set('xreadgroup-missing-stream', await replyOf(admin.xreadgroup('GROUP', 'g', 'c', 'STREAMS', 'nostream', '>')));
    replies.set('xpending-missing-group', await replyOf(admin.xpending('s', 'nogroup')));
    replies.set('script-nogroup', await replyOf(admin.eval("return redis.call('XPENDING', KEYS[1], 'nogroup')", 1, 's')));
    replies.set('xreadgroup-missing-group', await replyOf(admin.xreadgroup('GROUP', 'nogroup', 'c', 'STREAMS', 's', '>')));
    replies.set('xautoclaim-missing-group', await replyOf(admin.xautoclaim('s', 'nogroup', 'c', 0, '0-0')));
    replies.set('xinfo-consumers-missing-group', await replyOf(admin.xinfo('CONSUMERS', 's', 'nogroup')));
    replies.set(
      'script-xreadgroup-nogroup',
      await replyOf(admin.eval("return redis.call('XREADGROUP', 'GROUP', 'nogroup', 'c', 'STREAMS', KEYS[1], '>')", 1, 's')),
    );
    // One of the pipeline's own functions (lib/lua/claim-3.lua, FCALL) calling XAUTOCLAIM for a group that is gone.
    replies.set(
      'function-nogroup',
      await replyOf(new Script('claim-3').run(admin, ['s', 'fence:nogroup', 'fence:nogroup'], ['nogroup', 'c', '0', '0-0', '10'])),
    );
    replies.set('xinfo-missing-stream', await replyOf(admin.xinfo('GROUPS', 'nostream')));
    replies.set('busygroup', await replyOf(admin.xgroup('CREATE', 's', 'g', '0')));
    replies.set('wrongtype', await replyOf(admin.xadd('plain', '*', 'k', 'v')));
    replies.set('bad-id', await replyOf(admin.xrange('s', '99999999999999999999999-0', '+')));
    replies.set('function-not-found', await replyOf(admin.call('FCALL', 'no_such_function', '0')));
    const lib = "#!lua name=replies_test\nredis.register_function('replies_f', function() return 1 end)";
    await admin.call('FUNCTION', 'LOAD', lib);
    replies.set('library-exists', await replyOf(admin.call('FUNCTION', 'LOAD', lib)));
    replies.set('noperm-command', await replyOf(narrow.xinfo('GROUPS', 'allowed:s')));
    replies.set('noperm-key', await replyOf(narrow.get('other')));
    replies.set('noperm-script-keys', await replyOf(narrow.eval("return redis.call('GET', KEYS[1])", 1, 'other')));
    replies.set('noperm-in-script', await replyOf(narrow.eval("return redis.call('XINFO', 'GROUPS', KEYS[1])", 1, 'allowed:s')));
    replies.set('noperm-function-load', await replyOf(narrow.call('FUNCTION', 'LOAD', 'REPLACE', lib)));
    await admin.config('SET', 'maxmemory', '1');
    replies.set('oom', await replyOf(admin.set('more', 'x')));
    replies.set('oom-in-script', await replyOf(admin.eval("return redis.call('SET', KEYS[1], 'x')", 1, 'more')));
    await admin.config('SET', 'maxmemory', '0');
    // Redis unable to persist (a killed BGSAVE; refuseWrites checks a SET gets MISCONF): a plain write,
    // a script's redis.call (Redis 7.0 keeps the code: "MISCONF ... script: <sha>, on @user_script:1."),
    // one of our functions (refused at its start: none is no-writes), and PING, which Redis refuses too.
    await refuseWrites(admin);
    replies.set('misconf', await replyOf(admin.set('more', 'x')));
    replies.set('misconf-in-script', await replyOf(admin.eval("return redis.call('SET', KEYS[1], 'x')", 1, 'more')));
    replies.set('misconf-function', await replyOf(new Script('claim-3').run(admin, ['s', 'fence:g', 'fence:g'], ['g', 'c', '0', '0-0', '10'])));
    replies.set('misconf-ping', await replyOf(admin.ping()));
    plainUnderMisconf = await plainRedisAt('127.0.0.1', server.port);
    await allowWrites(admin);
    replies.set('wrongpass', await replyOf(narrow.call('AUTH', 'narrow', 'wrong')));
    replies.set('db-out-of-range', await replyOf(narrow.call('SELECT', '99')));
    // Replies that quote the codes of others: a script's error about a record (what a stage's
    // function would raise), and the unknown-command reply, which quotes the command and its arguments.
    const quoted =
      "title 'NOPERM no permissions to run OOM MISCONF LOADING READONLY max number of clients reached WRONGPASS NOAUTH DB index is out of range SSL certificate'";
    replies.set('script-error-quoting', await replyOf(admin.eval("error('bad record: ' .. ARGV[1])", 0, quoted)));
    replies.set('unknown-command-quoting', await replyOf(admin.call('NOPERM', 'OOM', 'max number of clients reached')));
    // A script's error about a record that quotes a NOGROUP reply (user data): no vanished group, no missing stream.
    const quotedNoGroup = "name 'NOGROUP No such key s or consumer group g'";
    replies.set('script-error-quoting-nogroup', await replyOf(admin.eval("error('bad record: ' .. ARGV[1])", 0, quotedNoGroup)));
    // The server at maxclients answers a new connection with its refusal, before any command.
    await admin.config('SET', 'maxclients', '1');
    const greeting = await probeRedis('127.0.0.1', server.port);
    await admin.config('SET', 'maxclients', '10000');
    replies.set('maxclients', new Error(greeting.message));
  } finally {
    narrow.disconnect();
  }
}

test.after(async () => {
  admin.disconnect();
  await server.stop();
});

const all = () => [...replies.entries()];
/** Exactly the replies named match `predicate`. */
function only(predicate: (err: unknown) => boolean, names: string[]): void {
  for (const [name, err] of all()) assert.is(predicate(err), names.includes(name), `${name}: ${err.message}`);
}

test('NOGROUP (XREADGROUP of a missing stream or group, XPENDING, XAUTOCLAIM, XINFO CONSUMERS of a missing group, a script or one of our functions calling one) is isNoGroup; XINFO of a missing stream is isNoSuchKey; both are isMissingGroup', () => {
  const noGroup = [
    'xreadgroup-missing-stream',
    'xreadgroup-missing-group',
    'xpending-missing-group',
    'xautoclaim-missing-group',
    'xinfo-consumers-missing-group',
    'script-nogroup',
    'script-xreadgroup-nogroup',
    'function-nogroup',
  ];
  only(isNoGroup, noGroup);
  // Redis's NOGROUP reply says "No such key" too (not XINFO CONSUMERS': "No such consumer group"): the sites that matched /no such key/ took it as before.
  only(isNoSuchKey, [...noGroup.filter((n) => n !== 'xinfo-consumers-missing-group'), 'xinfo-missing-stream']);
  only(isMissingGroup, [...noGroup, 'xinfo-missing-stream']);
});

test("a script's error quoting a NOGROUP reply (user data) is no missing group: the worker would re-create its group", () => {
  const err = replies.get('script-error-quoting-nogroup')!;
  assert.match(err.message, /NOGROUP No such key/);
  assert.not.ok(isNoGroup(err), err.message);
  assert.not.ok(isNoSuchKey(err), err.message);
  assert.not.ok(isMissingGroup(err), err.message);
  assert.equal(classify(err), { class: 'poison' });
});

test('the ACL refusing a command, a key, a script key, a command inside a script or FUNCTION LOAD is isNoPermission (and a permission refusal to the failure policy); only a key refusal is isKeyPermissionRefusal', () => {
  const refused = ['noperm-command', 'noperm-key', 'noperm-script-keys', 'noperm-in-script', 'noperm-function-load'];
  only(isNoPermission, refused);
  only(isPermissionRefusal, refused);
  // The command's own NOPERM reply: not a command refused inside a script ("ERR The user executing the script can't ...").
  only(
    isNoPermReply,
    refused.filter((n) => n !== 'noperm-in-script'),
  );
  // Redis checks a script's declared keys before it runs ("No permissions to access one of the keys used as arguments").
  only(isKeyPermissionRefusal, ['noperm-key', 'noperm-script-keys']);
});

test('BUSYGROUP, WRONGTYPE, OOM, an invalid stream id, a missing function and an existing library each match their own predicate only', () => {
  only(isGroupExists, ['busygroup']);
  only(isWrongType, ['wrongtype']);
  only(isOutOfMemory, ['oom', 'oom-in-script']);
  only(isInvalidStreamId, ['bad-id']);
  only(isFunctionNotFound, ['function-not-found']);
  only(isLibraryExists, ['library-exists']);
  // The failure policy's classes are unchanged: BUSYGROUP and WRONGTYPE are poison, OOM an outage.
  assert.equal(classify(replies.get('busygroup')), { class: 'poison' });
  assert.equal(classify(replies.get('wrongtype')), { class: 'poison' });
  assert.equal(classify(replies.get('oom')), { class: 'transient', outage: 'redis_oom' });
});

test('MISCONF (Redis unable to persist) from a plain write, a script, one of our functions and PING is isMisconf only: an outage of its own (redis_misconf), no reconnect, diagnosed as unavailable naming the disk', () => {
  const misconf = ['misconf', 'misconf-in-script', 'misconf-function', 'misconf-ping'];
  only(isMisconf, misconf);
  assert.match(replies.get('misconf-in-script')!.message, /^MISCONF .* script: \w+, on @user_script:1\.$/, 'Redis 7.0 keeps the code inside a script');
  for (const name of misconf) {
    const err = replies.get(name)!;
    assert.equal(classify(err), { class: 'transient', outage: 'redis_misconf' }, name);
    assert.not.ok(shouldReconnect(err), `${name}: the connection is fine`);
    const d = diagnoseRedisError(err);
    assert.is(d?.cause, 'unavailable', name);
    assert.match(d!.line, /cannot persist to disk/);
  }
  // A plain Redis is a plain Redis whatever it answers a PING: a rediss:// client at it is the TLS mismatch.
  assert.is(plainUnderMisconf?.cause, 'tls');
});

test('the replies diagnose.ts names (maxclients, WRONGPASS, NOPERM, OOM, a database out of range) are recognised here, and each is diagnosed as its cause', () => {
  only(isMaxClients, ['maxclients']);
  only(isAuthRefused, ['wrongpass']);
  only(isDbOutOfRange, ['db-out-of-range']);
  const cause = (name: string) => diagnoseRedisError(replies.get(name))?.cause;
  assert.equal(['maxclients', 'wrongpass', 'db-out-of-range', 'oom', 'oom-in-script'].map(cause), ['maxclients', 'auth', 'database', 'oom', 'oom']);
  // Each ACL refusal: the command's, a key's, a script's keys, one inside a script (Redis 7.0: "ERR The user executing the script can't ...").
  for (const name of ['noperm-command', 'noperm-key', 'noperm-script-keys', 'noperm-in-script', 'noperm-function-load']) assert.is(cause(name), 'noperm', name);
  // As the connection error behind a command's "max retries" or "closed".
  assert.is(diagnoseRedisError(new Error('Connection is closed.'), replies.get('maxclients'))?.cause, 'maxclients');
  assert.is(diagnoseRedisError(new Error('Connection is closed.'), replies.get('wrongpass'))?.cause, 'auth');
  assert.equal(classify(replies.get('maxclients')), { class: 'transient', outage: 'redis_unavailable' });
  assert.ok(shouldReconnect(replies.get('maxclients')!));
});

test("a reply that only quotes other replies' codes (a script's error about a record, an unknown command) is none of them: not a Redis failure, poison to the failure policy", () => {
  for (const name of ['script-error-quoting', 'unknown-command-quoting']) {
    const err = replies.get(name)!;
    assert.is(diagnoseRedisError(err)?.cause, undefined, `${name}: ${err.message}`);
    assert.equal(classify(err), { class: 'poison' }, name);
    assert.not.ok(shouldReconnect(err), name);
    for (const predicate of [isNoPermission, isOutOfMemory, isMisconf, isMaxClients, isAuthRefused, isDbOutOfRange, isReadOnly])
      assert.not.ok(predicate(err), `${name}: ${predicate.name}`);
  }
});

test("a reply inside ioredis' own wrappings (a ready check, a round over the sentinels) is still that reply", () => {
  const wrapped = (prefix: string, name: string) => new Error(`${prefix}${replies.get(name)!.message}`);
  const readyCheck = wrapped('Ready check failed: ', 'noperm-command');
  assert.ok(isNoPermission(readyCheck));
  assert.is(diagnoseRedisError(readyCheck)?.cause, 'noperm');
  assert.equal(classify(readyCheck), { class: 'transient', outage: 'redis_noperm' });
  const sentinels = wrapped('All sentinels are unreachable. Retrying from scratch after 10ms. Last error: ', 'wrongpass');
  assert.is(diagnoseRedisError(sentinels)?.cause, 'auth');
});

test('READONLY: a write to a replica; the failure policy calls it an outage and reconnects', async () => {
  const replica = await startRedis();
  const r = client(replica.url);
  try {
    await r.call('REPLICAOF', '127.0.0.1', String(server.port));
    await waitFor('the replica to sync', async () => /master_link_status:up/.test(await r.info('replication')));
    const err = await replyOf(r.set('k', 'v'));
    assert.ok(isReadOnly(err), err.message);
    assert.ok(shouldReconnect(err));
    assert.equal(classify(err), { class: 'transient', outage: 'redis_unavailable' });
    for (const [name, other] of all()) assert.not.ok(isReadOnly(other), name);
  } finally {
    r.disconnect();
    await replica.stop();
  }
});

test('CLUSTERDOWN from a cluster node serving no slot, MOVED from a node that does not own the key', async () => {
  const lone = await new RedisServer({
    dir: mkdtempSync(join(tmpdir(), 'replies-lone-')),
    settings: { 'cluster-enabled': 'yes', 'cluster-config-file': 'nodes.conf' },
  }).start();
  const cluster = await new RedisCluster({ masters: 3, replicas: 0 }).start().catch(async (err: unknown) => {
    await lone.stop();
    throw err;
  });
  const plain = client(lone.url);
  const node = cluster.node(cluster.ports[0]!);
  try {
    const down = await replyOf(plain.get('k'));
    assert.ok(isClusterDown(down), down.message);
    assert.equal(classify(down), { class: 'transient', outage: 'redis_unavailable' });
    assert.is(diagnoseRedisError(down)?.cause, 'unavailable');
    // A Cluster client out of redirections wraps the last reply (ioredis: "Too many Cluster redirections. Last error: " + error).
    const exhausted = new Error(`Too many Cluster redirections. Last error: ${String(down)}`);
    assert.ok(isClusterDown(exhausted) && isRedirectOrExhausted(exhausted), exhausted.message);
    assert.is(diagnoseRedisError(exhausted)?.cause, 'unavailable');
    assert.equal(classify(exhausted), { class: 'transient', outage: 'redis_unavailable' });
    // Out of redirections with a closed connection (a master down): unreachable, which names the node (test/topologies/cluster-cli.test.ts).
    assert.is(diagnoseRedisError(new Error('Too many Cluster redirections. Last error: Error: Connection is closed.'))?.cause, 'unreachable');
    // Some key of another node's slots: the first node answers MOVED.
    let moved: Error | undefined;
    for (let i = 0; !moved && i < 50; i++)
      moved = await node.get(`k${i}`).then(
        () => undefined,
        (e: Error) => e,
      );
    assert.ok(moved && isRedirectReply(moved) && isRedirectOrExhausted(moved), moved?.message);
    for (const [name, other] of all()) assert.not.ok(isRedirectReply(other) || isClusterDown(other), name);
  } finally {
    plain.disconnect();
    node.disconnect();
    await cluster.close();
    await lone.stop();
  }
});

test.run();
