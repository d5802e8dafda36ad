/**
 * `pipeline acl --apply` on a `redis+sentinel://` URL (test/helpers/sentinel.ts: a master, a replica
 * and one sentinel, real processes): ACLs are per server and not replicated, so the users go to the
 * master and to every replica the sentinels list (lib/ops/acl-nodes.ts). After a failover each
 * user's URL from the env file (a sentinel URL too) logs in on the promoted replica as that user.
 * Before, only the master got the users and every stage was refused (WRONGPASS) once its replica
 * was promoted.
 */
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createClient } from '../../lib/redis/url.js';
import { cli, exited, writeConfig } from '../helpers/pipeline.js';
import { randomPipeline } from '../helpers/redis.js';
import { SentinelSet } from '../helpers/sentinel.js';

const set = await new SentinelSet().start();

/** NAME=value lines of an env file. */
const readEnv = (file: string): Record<string, string> =>
  Object.fromEntries(
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => /^[A-Z_]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );

/**
 * The user a fresh connection through `url` (the sentinels, then the master they name) is logged in
 * as on the server at `port`, per its CLIENT LIST line; or the error that refused it (a failed AUTH
 * leaves ioredis connected as the default user, hence the check by name).
 */
async function loggedInAs(url: string, port: number): Promise<string> {
  const name = `login-${Math.random().toString(36).slice(2)}`;
  const c = createClient(url, { maxRetriesPerRequest: 1, retryStrategy: (n) => (n > 3 ? null : 100), connectionName: name });
  const admin = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1 });
  let refused = '';
  c.on('error', (e: Error) => (refused ||= e.message));
  try {
    await c.ping().catch(() => {});
    if (refused) return `refused: ${refused}`;
    return new RegExp(`name=${name} .*user=(\\S+)`).exec(String(await admin.client('LIST')))?.[1] ?? 'not connected there';
  } finally {
    c.disconnect();
    admin.disconnect();
  }
}

test('acl --apply on a sentinel URL sets the users on the master and its replica: after a failover every user logs in on the promoted one', async () => {
  const pipeline = randomPipeline('sa');
  const configFile = writeConfig(pipeline);
  const envFile = join(tmpdir(), `${pipeline}-secrets.env`);
  try {
    const c = cli(['--config', configFile, 'acl', '--apply', '--write-env', envFile], set.url);
    assert.is(await exited(c), 0, c.output());
    assert.match(c.output(), /to 2 server\(s\) of sentinels 127\.0\.0\.1:\d+\/mymaster/);
    const env = readEnv(envFile);
    const users = Object.entries(env).map(([, url]) => ({
      url,
      name: decodeURIComponent(url.slice(url.indexOf('//') + 2, url.indexOf(':', url.indexOf('//') + 2))),
    }));
    assert.ok(users.length >= 5, `the stages, producer, observer and API users: ${Object.keys(env).join(', ')}`);
    for (const u of users) assert.ok(u.url.startsWith(`redis+sentinel://${encodeURIComponent(u.name)}:`), `${u.name}'s URL keeps the sentinels`);
    const old = await set.masterPort();
    const replica = [...set.servers.keys()].find((p) => p !== old)!;
    const r = new Redis(replica, '127.0.0.1', { maxRetriesPerRequest: 1 });
    try {
      for (const u of users) assert.ok(await r.call('ACL', 'GETUSER', u.name), `${u.name} is on the replica`);
    } finally {
      r.disconnect();
    }
    await set.failover();
    assert.is(await set.waitPromoted(old), replica);
    for (const u of users) assert.is(await loggedInAs(u.url, replica), u.name, `${u.name} logs in on the promoted replica`);
  } finally {
    rmSync(envFile, { force: true });
    rmSync(configFile, { force: true });
  }
});

test.after(async () => {
  await set.close();
});
test.run();
