import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { classify, isPermissionRefusal, shouldReconnect } from '../lib/core/failure-policy.js';
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
  isOutOfMemory,
  isReadOnly,
  isRedirectOrExhausted,
  isRedirectReply,
  isWrongType,
} from '../lib/core/redis-replies.js';
import { RedisServer } from '../lib/redis/server.js';
import { RedisCluster } from './helpers/cluster.js';
import { client, startRedis, waitFor } from './helpers/redis.js';

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
    await admin.config('SET', 'maxmemory', '0');
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

test('NOGROUP (XREADGROUP of a missing stream, XPENDING of a missing group, a script calling XPENDING) is isNoGroup; XINFO of a missing stream is isNoSuchKey; both are isMissingGroup', () => {
  only(isNoGroup, ['xreadgroup-missing-stream', 'xpending-missing-group', 'script-nogroup']);
  // Redis's NOGROUP reply says "No such key" too: the sites that matched /no such key/ took it as before.
  only(isNoSuchKey, ['xreadgroup-missing-stream', 'xpending-missing-group', 'script-nogroup', 'xinfo-missing-stream']);
  only(isMissingGroup, ['xreadgroup-missing-stream', 'xpending-missing-group', 'script-nogroup', 'xinfo-missing-stream']);
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
  only(isOutOfMemory, ['oom']);
  only(isInvalidStreamId, ['bad-id']);
  only(isFunctionNotFound, ['function-not-found']);
  only(isLibraryExists, ['library-exists']);
  // The failure policy's classes are unchanged: BUSYGROUP and WRONGTYPE are poison, OOM an outage.
  assert.equal(classify(replies.get('busygroup')), { class: 'poison' });
  assert.equal(classify(replies.get('wrongtype')), { class: 'poison' });
  assert.equal(classify(replies.get('oom')), { class: 'transient', outage: 'redis_oom' });
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
  const cluster = await new RedisCluster({ masters: 3, replicas: 0 }).start();
  const plain = client(lone.url);
  const node = cluster.node(cluster.ports[0]!);
  try {
    const down = await replyOf(plain.get('k'));
    assert.ok(isClusterDown(down), down.message);
    assert.equal(classify(down), { class: 'transient', outage: 'redis_unavailable' });
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
