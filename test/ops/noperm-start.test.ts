/**
 * A worker checks its own Redis permissions at start (ACL DRYRUN of every command its stage will
 * run, nothing run): a user missing one (a stage renamed, users applied from another config, an
 * upgrade without `pipeline acl --apply`) refuses the start with one line naming the user, the
 * commands and the keys, and `pipeline acl --apply`, exit 13 (docs/cli.md); before, the worker
 * started and its records waited (or were dead-lettered) with Redis's bare NOPERM. A user with
 * every permission starts; one that may not run ACL DRYRUN (rules made before this release) starts
 * unchecked and says so.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { stageRedisUrlEnv } from '../../lib/config/load.js';
import { aclUsers, applyAcl, type AclUser } from '../../lib/ops/acl.js';
import { Keys } from '../../lib/redis/keys.js';
import { stageDataAccess } from '../../stages/access.js';
import { BIN, exited, FAST, rulesOnlyConfig, writeConfig } from '../helpers/pipeline.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';

const server = await startRedis();
const admin = client(server.url);
const pipeline = randomPipeline('nst');
const file = writeConfig(pipeline, FAST);
const users = aclUsers(rulesOnlyConfig(server.url, pipeline), { dataAccess: stageDataAccess, password: (u) => `pw-${pipeline}-${u.name}` });
const validate = users.find((u) => u.stage === 'validate')!;
const store = users.find((u) => u.stage === 'store')!;
const keys = new Keys(pipeline);

/** `pipeline worker <stage>` as the stage's user, output collected. */
function worker(user: AclUser = validate): ChildProcess & { output: () => string } {
  const env = { ...process.env, REDIS_URL: server.url, [stageRedisUrlEnv(user.stage!)]: user.url, LOG_LEVEL: 'info' };
  const child = spawn(process.execPath, [BIN, '--config', file, 'worker', user.stage!], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return Object.assign(child, { output: () => out });
}

/** `user` with these rules (the others as generated). */
const applyRules = (user: AclUser, rules: string[]) => applyAcl(admin, [...users.filter((u) => u !== user), { ...user, rules } as AclUser]);

/** Start `user`'s worker: it must exit 13 at once with one line naming the user, `refused` and `key`. */
async function refusedAtStart(user: AclUser, refused: string | RegExp, key: string) {
  const w = worker(user);
  let code: number | null = null;
  void exited(w).then((c) => (code = c));
  try {
    await waitFor(`the ${user.stage} worker exits`, () => code !== null, 30_000);
  } finally {
    if (code === null) w.kill('SIGKILL');
  }
  const out = w.output();
  assert.is(code, 13, out);
  const errors = out.split('\n').filter((l) => l.startsWith('error: '));
  assert.is(errors.length, 1, out);
  assert.match(errors[0]!, `Redis user ${user.name} may not run `);
  assert.match(errors[0]!, refused);
  assert.match(errors[0]!, key);
  assert.match(errors[0]!, 'pipeline acl --apply');
  assert.not.match(out, /worker\.started/);
  // Nothing else refused: the one redis.noperm line of the check, and the error line.
  assert.equal(
    out.split('\n').filter((l) => /NOPERM/.test(l) && !l.startsWith('error: ') && !l.includes('"redis.noperm"')),
    [],
    out,
  );
}

test('a user missing its consumer commands: the worker refuses to start, exit 13, one line naming user, commands, key and `pipeline acl --apply`', async () => {
  await applyRules(
    validate,
    validate.rules.filter((r) => !r.includes('+xreadgroup')),
  );
  await refusedAtStart(validate, 'XREADGROUP, XACK', keys.stream('validate'));
  await applyAcl(admin, users);
});

test('a store user without the reprocess markers (as the previous release made it): refused at start (it had started and waited on, or dead-lettered, every record)', async () => {
  await applyRules(
    store,
    store.rules.filter((r) => !r.includes(keys.reprocess('*'))),
  );
  await refusedAtStart(store, /FCALL|HMGET/, keys.reprocess(''));
  await applyAcl(admin, users);
});

test("another pipeline's user: refused at start in one line, and no NOPERM for liveness markers it never wrote (its watchdog's cleanup DEL had been refused: a NOPERM warning per shard)", async () => {
  const other = randomPipeline('nso');
  const stranger = aclUsers(rulesOnlyConfig(server.url, other), { dataAccess: stageDataAccess, password: (u) => `pw-${other}-${u.name}` }).find(
    (u) => u.stage === 'validate',
  )!;
  await applyAcl(admin, [stranger]);
  await refusedAtStart({ ...validate, name: stranger.name, url: stranger.url }, 'XREADGROUP', keys.stream('validate'));
});

test('every permission there: the worker starts; a user that may not run ACL DRYRUN (rules of an older release) starts unchecked and says so', async () => {
  for (const [rules, unchecked] of [
    [validate.rules, false],
    [validate.rules.filter((r) => r !== '+acl|dryrun'), true],
  ] as const) {
    await applyRules(validate, [...rules]);
    const w = worker();
    try {
      await waitFor('worker.started', () => w.output().includes('"worker.started"'), 30_000);
      assert.is(w.output().includes('"worker.permissions_unchecked"'), unchecked, w.output());
      if (unchecked) assert.match(w.output(), new RegExp(`"worker.permissions_unchecked".*${validate.name} may not run ACL DRYRUN`));
      assert.not.match(w.output(), /redis\.noperm/);
    } finally {
      w.kill('SIGTERM');
      assert.is(await exited(w), 0, w.output());
    }
  }
});

test.after(async () => {
  admin.disconnect();
  rmSync(file, { force: true });
  await server.close();
});
test.run();
