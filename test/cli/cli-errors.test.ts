/**
 * CLI commands that cannot reach Redis or are refused: one line naming the cause and the setting
 * to look at, a distinct exit code per cause (docs/cli.md), no stack trace, no ioredis
 * "Unhandled error event"; `produce` waits (saying so) for --retry-for and completes once Redis
 * takes writes again.
 */
import { rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ProducerGapError } from '../../lib/core/errors.js';
import { diagnoseRedisError, diagnoseWithProbe, EXIT_CODES } from '../../lib/redis/diagnose.js';
import { Keys } from '../../lib/redis/keys.js';
import { cli, exited, FAST, rulesOnlyConfig, writeConfig } from '../helpers/pipeline.js';
import { aclUsers, applyAcl } from '../../lib/ops/acl.js';
import { addDeadLetter } from '../helpers/console.js';
import { stageDataAccess } from '../../stages/access.js';
import { hogAllClientSlots, randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const MAX_CLIENTS = 6;
const { server, redis } = await redisForFile(test, { settings: { maxclients: String(MAX_CLIENTS) } });
await redis.ping();

/** The checks every refusal must pass: exit code, one `error:` line naming `setting`, no noise. */
function assertOneLine(out: string, code: number | null, cause: keyof typeof EXIT_CODES, setting: RegExp) {
  assert.is(code, EXIT_CODES[cause], `exit code of ${cause}: ${out}`);
  const errors = out.split('\n').filter((l) => l.startsWith('error:'));
  assert.is(errors.length, 1, `one error line: ${out}`);
  assert.match(errors[0]!, setting);
  assert.not.match(out, /Unhandled error event/, 'no ioredis noise');
  assert.not.match(out, /^\s+at /m, 'no stack trace');
}

const records = (n: number, p = 'r') => Array.from({ length: n }, (_, i) => JSON.stringify({ id: `${p}${i}`, title: `item ${i}` })).join('\n');

test('classification: each cause by its message, a refusal in the connection error wins over "max retries"', () => {
  const cases: [unknown, unknown, keyof typeof EXIT_CODES][] = [
    [new Error('Reached the max retries per request limit (which is 2).'), new Error('ERR max number of clients reached'), 'maxclients'],
    [new Error('Connection is closed.'), Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }), 'unreachable'],
    [new Error('Connection is closed.'), new Error('WRONGPASS invalid username-password pair or user is disabled.'), 'auth'],
    [new Error('NOAUTH Authentication required.'), undefined, 'auth'],
    [new Error("NOPERM this user has no permissions to run the 'xinfo|stream' command"), undefined, 'noperm'],
    [new Error("OOM command not allowed when used memory > 'maxmemory'."), new Error('read ECONNRESET'), 'oom'],
    [new Error('Connection is closed.'), new Error('self-signed certificate in certificate chain'), 'tls'],
    [new Error('LOADING Redis is loading the dataset in memory'), undefined, 'unavailable'],
  ];
  for (const [err, conn, cause] of cases) assert.is(diagnoseRedisError(err, conn)?.cause, cause, String((err as Error).message));
  assert.is(diagnoseRedisError(new Error('config error at routes.x: unknown stage')), undefined, 'not a Redis failure');
  // The producer's finding that Redis lost records is said as such, not as the outage behind it (it had read "cannot reach Redis", exit 10).
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
  assert.is(diagnoseRedisError(new ProducerGapError('{p}:in', 200, 0), refused), undefined, 'the loss, not the outage');
  assert.is(new Set(Object.values(EXIT_CODES)).size, Object.keys(EXIT_CODES).length, 'one exit code per cause');
});

test('rediss:// at a plain Redis is named as the TLS mismatch, exit 14 (it had been "nothing answers at", exit 10, after ~40 s)', async () => {
  const port = Number(new URL(server.url).port);
  const d = await diagnoseWithProbe(new Error('Connection is closed.'), undefined, { host: '127.0.0.1', port, tls: true }, `127.0.0.1:${port}`);
  assert.is(d?.cause, 'tls');
  assert.is(d?.exitCode, 14);
  assert.match(d!.line, /plain \(non-TLS\) Redis answers at 127\.0\.0\.1:\d+; use `redis:\/\/`/);
  // A plain URL with nothing listening stays "unreachable".
  const none = await diagnoseWithProbe(new Error('connect ECONNREFUSED 127.0.0.1:1'), undefined, { host: '127.0.0.1', port: 1, tls: true });
  assert.is(none?.cause, 'unreachable');
});

test('rediss:// at a plain Redis: a command, a worker and the API exit 14 within seconds (they had waited ~40 s, or retried for ever)', async () => {
  const file = writeConfig(randomPipeline(), FAST);
  const url = server.url.replace(/^redis:/, 'rediss:');
  try {
    for (const args of [['status'], ['worker', 'preprocess'], ['serve', '--port', '0']]) {
      const started = Date.now();
      const p = cli(['--config', file, ...args], url);
      const killer = setTimeout(() => p.kill('SIGKILL'), 15_000);
      const code = await exited(p);
      clearTimeout(killer);
      assertOneLine(p.output(), code, 'tls', /plain \(non-TLS\) Redis answers at 127\.0\.0\.1:\d+; use `redis:\/\/`/);
      assert.ok(Date.now() - started < 10_000, `${args[0]} took ${Date.now() - started} ms`);
    }
  } finally {
    rmSync(file, { force: true });
  }
});

test('Redis not listening: status says so with the address and REDIS_URL, exit 10', async () => {
  const file = writeConfig(randomPipeline(), FAST);
  try {
    const status = cli(['--config', file, 'status'], 'redis://127.0.0.1:1');
    const code = await exited(status);
    assertOneLine(status.output(), code, 'unreachable', /cannot reach Redis.*127\.0\.0\.1:1.*REDIS_URL/);
  } finally {
    rmSync(file, { force: true });
  }
});

test('a REDIS_URL that is no valid URL (a bad port, a space, a bare % in the password) is one config line naming REDIS_URL, not a bare `Invalid URL` / `URI malformed`', async () => {
  const file = writeConfig(randomPipeline(), FAST);
  const port = new URL(server.url).port;
  try {
    for (const [url, why] of [
      ['redis://127.0.0.1:99999', /not a valid redis:\/\/ URL: the port must be a number up to 65535/],
      ['redis://redis host:6379', /not a valid redis:\/\/ URL: .*the host has no spaces/],
      [`redis://:pa%ss@127.0.0.1:${port}`, /the password of the URL is not valid percent-encoding \(a % in it is written %25\)/],
    ] as const) {
      const status = cli(['--config', file, 'status'], url);
      assert.is(await exited(status), 1, status.output());
      assert.match(status.output(), /^error: config error at REDIS_URL \(environment\): /, 'named as the variable the user set, not the config field');
      assert.match(status.output(), why);
      assert.not.match(status.output(), /pa%ss|\n./, 'one line, the password not echoed');
    }
  } finally {
    rmSync(file, { force: true });
  }
});

test('a database the server does not have (/99 of 16): status and produce stop with exit 18 and write nothing (ioredis had gone on with database 0)', async () => {
  const pipeline = randomPipeline();
  const file = writeConfig(pipeline, FAST);
  try {
    const url = `${server.url}/99`;
    const status = cli(['--config', file, 'status'], url);
    const code = await exited(status);
    assertOneLine(status.output(), code, 'database', /no such database.*REDIS_URL.*databases/);
    const t0 = Date.now();
    const produce = cli(['--config', file, 'produce'], url, { input: records(20, 'db') });
    const code2 = await exited(produce);
    assertOneLine(produce.output(), code2, 'database', /no such database/);
    assert.ok(Date.now() - t0 < 15_000, 'no waiting out --retry-for: waiting cannot fix it');
    assert.is(await redis.exists(new Keys(pipeline).stream('in')), 0, 'nothing written to database 0');
    // A worker (one stage, and several in one process) names the database too: it had said "cannot reach Redis", exit 10.
    for (const stages of ['preprocess', 'preprocess,store']) {
      const worker = cli(['--config', file, 'worker', stages], url);
      const code3 = await exited(worker);
      assertOneLine(worker.output(), code3, 'database', /no such database/);
    }
  } finally {
    rmSync(file, { force: true });
  }
});

test('wrong password: one line naming REDIS_URL, exit 12; a user without the commands: NOPERM, exit 13', async () => {
  const file = writeConfig(randomPipeline(), FAST);
  await redis.call('ACL', 'SETUSER', 'cli-weak', 'reset', 'on', '>pw', '-@all', '+ping', '+info', '+client|setname');
  try {
    const bad = cli(['--config', file, 'status'], server.url.replace('redis://', 'redis://cli-weak:nope@'));
    const code = await exited(bad);
    assertOneLine(bad.output(), code, 'auth', /credentials.*REDIS_URL/);
    const weak = cli(['--config', file, 'status'], server.url.replace('redis://', 'redis://cli-weak:pw@'));
    const code2 = await exited(weak);
    assertOneLine(weak.output(), code2, 'noperm', /NOPERM.*pipeline acl --apply/);
  } finally {
    rmSync(file, { force: true });
  }
});

test('dlq replay and purge as a pipeline user (stage or observer): exit 13 saying to run them as the admin, not `pipeline acl --apply`', async () => {
  const pipeline = randomPipeline();
  const file = writeConfig(pipeline, FAST);
  const keys = new Keys(pipeline);
  const users = aclUsers(rulesOnlyConfig(server.url, pipeline), { dataAccess: stageDataAccess });
  await applyAcl(redis, users);
  await addDeadLetter(redis, keys, { id: 'dl1', title: 'item' });
  try {
    for (const user of [users.find((u) => u.role === 'observer')!, users.find((u) => u.stage === 'preprocess')!])
      for (const args of [
        ['dlq', 'replay', '--all'],
        ['dlq', 'purge', '--all'],
      ]) {
        const run = cli(['--config', file, ...args], user.url);
        const code = await exited(run);
        assertOneLine(run.output(), code, 'noperm', new RegExp(`Redis user ${user.name} may not run .*run it as the admin`));
        assert.not.match(run.output(), /run `pipeline acl --apply`/, `${user.name} ${args.join(' ')}: no ACL change can fix it`);
      }
    assert.is(await redis.xlen(keys.dlq), 1, 'nothing replayed or purged');
  } finally {
    rmSync(file, { force: true });
  }
});

test('functions status as the observer (a read) passes; functions load and monitor as a pipeline user: exit 13 saying to run them as the admin', async () => {
  const pipeline = randomPipeline();
  const file = writeConfig(pipeline, FAST);
  const keys = new Keys(pipeline);
  const users = aclUsers(rulesOnlyConfig(server.url, pipeline), { dataAccess: stageDataAccess });
  await applyAcl(redis, users);
  const observer = users.find((u) => u.role === 'observer')!;
  try {
    // The library's version probe is FCALL_RO of a no-writes function: the observer's (it had been refused FCALL, exit 13).
    const status = cli(['--config', file, 'functions', 'status'], observer.url);
    const statusCode = await exited(status);
    assert.is(statusCode, 0, status.output());
    assert.match(status.output(), /: loaded on /);
    // No group exists yet: monitor's first act, XGROUP CREATE, is refused; the generic hint had said `pipeline acl --apply`.
    for (const user of [observer, users.find((u) => u.stage === 'preprocess')!])
      for (const args of [['functions', 'load'], ['monitor']]) {
        const run = cli(['--config', file, ...args], user.url);
        const code = await exited(run);
        assertOneLine(run.output(), code, 'noperm', new RegExp(`Redis user ${user.name} may not run .*\`pipeline ${args.join(' ')}\` .*run it as the admin`));
        assert.not.match(run.output(), /run `pipeline acl --apply`/, `${user.name} ${args.join(' ')}: no ACL change can fix it`);
      }
    assert.is(await redis.exists(keys.stream('in')), 0, 'no group (nor stream) created');
  } finally {
    rmSync(file, { force: true });
  }
});

test('reprocess --dry-run as the producer or a stage user: exit 13 saying the observer may run it (it had said to run it as the admin)', async () => {
  const pipeline = randomPipeline();
  const file = writeConfig(pipeline, FAST);
  const users = aclUsers(rulesOnlyConfig(server.url, pipeline), { dataAccess: stageDataAccess });
  await applyAcl(redis, users);
  try {
    for (const user of [users.find((u) => u.role === 'producer')!, users.find((u) => u.stage === 'preprocess')!]) {
      const run = cli(['--config', file, 'reprocess', '--dry-run'], user.url);
      const code = await exited(run);
      assertOneLine(
        run.output(),
        code,
        'noperm',
        new RegExp(`Redis user ${user.name} may not run .*only reads: run it as the observer .*PIPELINE_OBSERVER_REDIS_URL`),
      );
      assert.not.match(run.output(), /run it as the admin/, `${user.name}: a dry run needs no admin`);
    }
    const observer = users.find((u) => u.role === 'observer')!;
    const dry = cli(['--config', file, 'reprocess', '--dry-run'], observer.url);
    assert.is(await exited(dry), 0, `the observer may: ${dry.output()}`);
  } finally {
    rmSync(file, { force: true });
  }
});

test('acl --apply as a pipeline user: exit 13 saying to run it as the admin (the generic hint said to run `pipeline acl --apply`)', async () => {
  const pipeline = randomPipeline();
  const file = writeConfig(pipeline, FAST);
  const users = aclUsers(rulesOnlyConfig(server.url, pipeline), { dataAccess: stageDataAccess });
  await applyAcl(redis, users);
  try {
    for (const user of [users.find((u) => u.role === 'observer')!, users.find((u) => u.role === 'api')!]) {
      const run = cli(['--config', file, 'acl', '--apply'], user.url);
      const code = await exited(run);
      assertOneLine(
        run.output(),
        code,
        'noperm',
        new RegExp(`Redis user ${user.name} may not run .*\`pipeline acl --apply\` .*run it as the admin \\(\`REDIS_URL\` with the admin's credentials`),
      );
      assert.not.match(run.output(), /run `pipeline acl --apply` as an admin after/, `${user.name}: not the generic hint`);
    }
  } finally {
    rmSync(file, { force: true });
  }
});

test('at maxclients: status and produce (after waiting for --retry-for, saying why) print one line naming maxclients and exit 11', async () => {
  const pipeline = randomPipeline();
  const file = writeConfig(pipeline, FAST);
  let hogs: Socket[] = [];
  try {
    hogs = await hogAllClientSlots(server.port);
    assert.ok(hogs.length >= MAX_CLIENTS - 2, `the server is full (${hogs.length} hogs)`);
    const status = cli(['--config', file, 'status'], server.url);
    const statusCode = await exited(status);
    assertOneLine(status.output(), statusCode, 'maxclients', /max number of clients reached.*`maxclients`/);
    const produce = cli(['--config', file, 'produce', '--retry-for', '1500', '--rejects', `/tmp/${pipeline}.rejects`], server.url, { input: records(10) });
    const code = await exited(produce);
    assert.match(
      produce.output(),
      /waiting: Redis refused the connection: max number of clients reached.*--retry-for/,
      `it said it was waiting, and why: ${produce.output()}`,
    );
    assertOneLine(produce.output(), code, 'maxclients', /`maxclients`/);
  } finally {
    for (const h of hogs) h.destroy();
    rmSync(file, { force: true });
  }
});

test('Redis full (OOM): produce waits, says so, and completes every record once the limit is lifted', async () => {
  const pipeline = randomPipeline();
  const file = writeConfig(pipeline, FAST);
  const keys = new Keys(pipeline);
  const used = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
  await redis.config('SET', 'maxmemory', String(Math.max(1, used - 100_000)));
  try {
    assert.match(
      await redis.set('probe', 'x').then(
        () => '',
        (e: Error) => e.message,
      ),
      /^OOM/,
      'the server refuses writes',
    );
    const produce = cli(['--config', file, 'produce', '--retry-for', '60000', '--rejects', `/tmp/${pipeline}.rejects`], server.url, { input: records(300) });
    await waitFor('produce says it waits for memory', () => /waiting: Redis is full.*`maxmemory`/.test(produce.output()), 20_000);
    assert.is(produce.exitCode, null, 'still waiting, not failed');
    await redis.config('SET', 'maxmemory', '0');
    const code = await exited(produce);
    assert.is(code, 0, produce.output());
    assert.match(produce.output(), /"produced":300/);
    assert.is(await redis.xlen(keys.stream('in')), 300, 'every record added once');
    assert.not.match(produce.output(), /Unhandled error event|^\s+at /m);
  } finally {
    await redis.config('SET', 'maxmemory', '0');
    rmSync(file, { force: true });
  }
});

test.run();
