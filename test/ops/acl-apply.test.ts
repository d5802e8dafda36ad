/**
 * `pipeline acl --apply` as a person runs it: what it prints (no secret unless --show-secrets),
 * what a rerun keeps (every password unless --rotate), the env file it writes.
 */
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cli, exited, writeConfig } from '../helpers/pipeline.js';
import { client, randomPipeline, startRedis } from '../helpers/redis.js';

const server = await startRedis();
const admin = client(server.url);

/** NAME=value lines of an env file. */
const readEnv = (file: string) =>
  Object.fromEntries(
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => /^[A-Z_]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
const passwordOf = (url: string) => decodeURIComponent(new URL(url).password);
/**
 * A fresh connection with `url`: '' when it is logged in as the URL's user, else why not (a failed
 * AUTH leaves ioredis connected as the default user, so the user is checked with ACL WHOAMI).
 */
async function login(url: string): Promise<string> {
  const name = `login-${Math.random().toString(36).slice(2)}`;
  const r = new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true, connectionName: name });
  let authError = '';
  r.on('error', (e: Error) => (authError ||= e.message));
  try {
    await r.connect().catch((e: Error) => (authError ||= e.message));
    await r.ping().catch(() => {});
    const who = new RegExp(`name=${name} .*user=(\\S+)`).exec(String(await admin.client('LIST')))?.[1];
    return who === decodeURIComponent(new URL(url).username) ? '' : authError || `logged in as ${String(who)}`;
  } finally {
    r.disconnect();
  }
}

test('pipeline acl --apply prints no secret unless --show-secrets, and a rerun keeps every password unless --rotate', async () => {
  const pipeline = randomPipeline();
  const configFile = writeConfig(pipeline);
  const envFile = join(tmpdir(), `${pipeline}-secrets.env`);
  const run = async (...args: string[]) => {
    const c = cli(['--config', configFile, 'acl', '--apply', ...args], server.url);
    assert.is(await exited(c), 0, c.output());
    return c.output();
  };
  try {
    const first = await run('--write-env', envFile);
    const env1 = readEnv(envFile);
    const passwords = Object.values(env1).map(passwordOf);
    assert.is(passwords.length, 6, '3 stages, the producer, the observer, the API');
    for (const pw of passwords) assert.not.ok(first.includes(pw), 'no password on stdout/stderr by default');
    assert.match(first, new RegExp(`REDIS_URL_STORE=redis://${pipeline}-store:\\*\\*\\*@`));
    assert.match(first, /passwords shown as \*\*\*/);

    const again = await run('--write-env', envFile);
    assert.equal(readEnv(envFile), env1, 'a rerun keeps every password (read back from the env file)');
    for (const pw of passwords) assert.not.ok(again.includes(pw));
    for (const url of Object.values(env1)) assert.is(await login(url), '', 'the URLs workers hold still authenticate');

    const noFile = await run();
    assert.match(noFile, /kept the existing password of/);
    for (const url of Object.values(env1)) assert.is(await login(url), '', 'without the env file the server keeps its passwords');

    const shown = await run('--write-env', envFile, '--show-secrets');
    assert.ok(shown.includes(env1.REDIS_URL_STORE!), '--show-secrets prints the URLs with their passwords');

    await run('--write-env', envFile, '--rotate');
    const env2 = readEnv(envFile);
    for (const [k, url] of Object.entries(env2)) {
      assert.is.not(passwordOf(url), passwordOf(env1[k]!), `${k}: --rotate gives a new password`);
      assert.is(await login(url), '', `${k}: the new password authenticates`);
      assert.match(await login(env1[k]!), /WRONGPASS|logged in as default|NOPERM/, `${k}: the old one no longer does`);
    }
  } finally {
    rmSync(envFile, { force: true });
  }
});

test.after(async () => {
  admin.disconnect();
  await server.close();
});
test.run();
