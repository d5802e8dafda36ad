import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FunctionsMissingError } from '../../lib/core/errors.js';
import { isTransientRedisError } from '../../lib/core/failure-policy.js';
import { awaitLibrary, buildLibrary, clusterMasters, ensureLibrary, library, libraryPresent, loadLibrary } from '../../lib/redis/functions.js';
import { Script } from '../../lib/redis/script.js';
import { cli, exited, FAST, writeConfig } from '../helpers/pipeline.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';

const server = await startRedis();
const admin = client(server.url);
const opened: Redis[] = [];

/** A user that may FCALL and touch every key, but not load functions or run EVAL. */
async function fcallOnlyUser(name: string): Promise<Redis> {
  await admin.call(
    'ACL',
    'SETUSER',
    name,
    'reset',
    'on',
    '>pw',
    '~*',
    '-@all',
    '+ping',
    '+info',
    '+client|setname',
    '+fcall',
    '+fcall_ro',
    '+xadd',
    '+get',
    '+set',
  );
  const r = new Redis(server.url.replace('redis://', `redis://${name}:pw@`), { maxRetriesPerRequest: 1 });
  opened.push(r);
  return r;
}

test('the library registers one function per lib/lua file, named with a hash of the sources', () => {
  const lib = library();
  const files = readdirSync(resolve(import.meta.dirname, '../../lib/lua'))
    .filter((f) => f.endsWith('.lua'))
    .map((f) => f.slice(0, -4));
  assert.equal([...lib.functions.keys()].sort(), files.sort());
  assert.match(lib.name, new RegExp(`^streamline_${lib.version}$`));
  for (const fn of lib.functions.values()) assert.match(fn, new RegExp(`^sle_${lib.version}_[A-Za-z0-9_]+$`));
  assert.match(lib.code, /^#!lua name=streamline_[0-9a-f]{12}\n/);
  assert.is(buildLibrary().version, lib.version, 'the same sources give the same version');
  const dir = mkdtempSync(join(tmpdir(), 'lua-'));
  writeFileSync(join(dir, 'a-0.lua'), 'return 1\n');
  const one = buildLibrary(dir);
  writeFileSync(join(dir, 'a-0.lua'), 'return 2\n');
  assert.is.not(buildLibrary(dir).version, one.version, 'a changed script is a new library version');
});

test('loaded once: every script runs by FCALL; loading again is a no-op; a new version loads beside the old one', async () => {
  await admin.call('FUNCTION', 'FLUSH');
  assert.is(await libraryPresent(admin), false);
  assert.is(await loadLibrary(admin), 1);
  assert.is(await loadLibrary(admin), 0, 'already there');
  assert.is(await libraryPresent(admin), true);
  const listed = (await admin.call('FUNCTION', 'LIST', 'LIBRARYNAME', library().name)) as unknown[][];
  assert.is(listed.length, 1);
  assert.is(await new Script('trim-acked-1').run(admin, ['fn:none'], []).then((r) => (r as unknown[])[0]), 0, 'a script body runs unchanged as a function');
  const dir = mkdtempSync(join(tmpdir(), 'lua-'));
  writeFileSync(join(dir, 'a-0.lua'), "return 'other'\n");
  const other = buildLibrary(dir);
  assert.is(await loadLibrary(admin, other), 1);
  assert.is(await new Script('a-0', other).run(admin, [], []), 'other');
  assert.is(await libraryPresent(admin), true, 'the first version is still there (rolling upgrade)');
});

test('the shared helpers (lib/lua/shared/) are seen by every script, compare stream ids by number, and are part of the version', async () => {
  await admin.call('FUNCTION', 'FLUSH');
  const dir = mkdtempSync(join(tmpdir(), 'lua-'));
  mkdirSync(join(dir, 'shared'));
  writeFileSync(join(dir, 'shared', 'twice.lua'), 'local function twice(x) return 2 * x end\n');
  writeFileSync(join(dir, 'a-0.lua'), 'return twice(tonumber(ARGV[1]))\n');
  writeFileSync(join(dir, 'b-0.lua'), 'return twice(twice(tonumber(ARGV[1])))\n');
  const lib = buildLibrary(dir);
  assert.equal([...lib.functions.keys()].sort(), ['a-0', 'b-0'], 'a helper file is no function');
  assert.is(await loadLibrary(admin, lib), 1);
  assert.equal([await new Script('a-0', lib).run(admin, [], [3]), await new Script('b-0', lib).run(admin, [], [3])], [6, 12]);
  writeFileSync(join(dir, 'shared', 'twice.lua'), 'local function twice(x) return x + x end\n');
  assert.is.not(buildLibrary(dir).version, lib.version, 'a changed helper is a new library version');
  // The shipped helpers, through a shipped script: ids compare by number ("9-0" is older than "10-0", which a string compare gets wrong).
  await loadLibrary(admin);
  const key = `${randomPipeline()}:marker`;
  const drop = new Script('drop-reprocess-marker-1');
  await admin.hset(key, 'origin', '10-0', 'from', '5-0');
  assert.is(await drop.run(admin, [key], ['9-0', '6-0']), 0, "a version older than the marker's origin leaves it");
  assert.is(await drop.run(admin, [key], ['10-0', '6-0']), 1, 'a version at its origin drops it');
  rmSync(dir, { recursive: true, force: true });
});

test('a user without FUNCTION: EVAL and FUNCTION LOAD refused; a missing library is a FunctionsMissingError (transient) naming the fix', async () => {
  await admin.call('FUNCTION', 'FLUSH');
  const user = await fcallOnlyUser('fnuser1');
  const err = await ensureLibrary(user).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(err, FunctionsMissingError);
  assert.ok(isTransientRedisError(err), 'retried like an outage, not counted as a delivery');
  assert.match((err as Error).message, /pipeline acl --apply/);
  const call = await new Script('produce-batch-2').run(user, ['fn:in', 'fn:in:producer:x'], [0, '', 1000, 1, 'k', 'e']).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(call, FunctionsMissingError, 'an FCALL without the library says the same');
  assert.match(
    await user.eval('return 1', 0).then(
      () => '',
      (e: Error) => e.message,
    ),
    /NOPERM/,
  );
  assert.match(
    await user.call('FUNCTION', 'LOAD', library().code).then(
      () => '',
      (e: Error) => e.message,
    ),
    /NOPERM/,
  );
});

test('awaitLibrary: a process whose user may not load says so once and goes on when an admin loads it', async () => {
  await admin.call('FUNCTION', 'FLUSH');
  const user = await fcallOnlyUser('fnuser2');
  const waits: string[] = [];
  const waiting = awaitLibrary(user, { retryBaseMs: 10, retryMaxMs: 30, onWait: (e) => waits.push(e.message) });
  await waitFor('the wait is reported', () => waits.length > 0, 5_000);
  await new Promise((r) => setTimeout(r, 100));
  assert.is(waits.length, 1, 'one line, not one per check');
  await loadLibrary(admin);
  assert.is(await waiting, 'waited');
  assert.equal(await new Script('produce-batch-2').run(user, ['fn:in2', 'fn:in2:producer:x'], [0, '', 1000, 1, 'k', 'e']), [1, 0]);
});

test('a user allowed to load (the default user of `npm start`) loads the library on first use', async () => {
  await admin.call('FUNCTION', 'FLUSH');
  assert.is(await ensureLibrary(admin), 'loaded');
  await admin.call('FUNCTION', 'FLUSH');
  assert.equal(await new Script('produce-batch-2').run(admin, ['fn:in3', 'fn:in3:producer:x'], [0, '', 1000, 1, 'k', 'e']), [1, 0]);
  assert.is(await libraryPresent(admin), true);
});

test('pipeline functions status|load: missing (exit 3), loaded by the admin, then present (exit 0)', async () => {
  await admin.call('FUNCTION', 'FLUSH');
  const file = writeConfig(randomPipeline(), FAST);
  try {
    const before = cli(['--config', file, 'functions', 'status'], server.url);
    assert.is(await exited(before), 3, before.output());
    assert.match(before.output(), `${library().name}: missing`);
    const load = cli(['--config', file, 'functions', 'load'], server.url);
    assert.is(await exited(load), 0, load.output());
    assert.match(load.output(), /loaded on 1 server/);
    const after = cli(['--config', file, 'functions', 'status'], server.url);
    assert.is(await exited(after), 0, after.output());
    assert.is(await libraryPresent(admin), true);
  } finally {
    rmSync(file, { force: true });
  }
});

test('the library is loaded on the masters that serve slots, not on a new replica another node still lists as a master without slots', () => {
  const nodes = [
    'a1 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-5460',
    'a2 127.0.0.1:7002@17002 master - 0 1 2 connected 5461-10922 [10923->-b3]',
    'a3 127.0.0.1:7003@17003 master,fail - 0 1 3 disconnected 10923-16383',
    'r1 127.0.0.1:7004@17004 master - 0 1 0 connected',
    'r2 127.0.0.1:7005@17005 slave a1 0 1 1 connected',
  ].join('\n');
  assert.equal(
    clusterMasters(nodes).map((n) => n.port),
    [7001, 7002],
  );
});

test.after(async () => {
  for (const r of opened) r.disconnect();
  admin.disconnect();
  await server.close();
});
test.run();
