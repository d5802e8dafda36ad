/**
 * The CLI on a `redis+sentinel://` URL (test/helpers/sentinel.ts: a master, a replica and one
 * sentinel, real processes): `status` works through the sentinel; a master name the sentinels do not
 * monitor, or sentinels that do not answer, end it with one line naming the sentinels and the master
 * name to check (exit 10, docs/cli.md), not "nothing answers" at an address that did answer, and
 * never the sentinel password.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EXIT_CODES } from '../../lib/redis/diagnose.js';
import { freePort } from '../../lib/redis/server.js';
import { cli, exited, writeConfig } from '../helpers/pipeline.js';
import { randomPipeline } from '../helpers/redis.js';
import { SentinelSet } from '../helpers/sentinel.js';

const set = await new SentinelSet().start();
const configFile = writeConfig(randomPipeline('sc'));

const status = async (url: string) => {
  const c = cli(['--config', configFile, 'status'], url);
  const code = await exited(c);
  return {
    code,
    out: c.output(),
    errors: c
      .output()
      .split('\n')
      .filter((l) => l.startsWith('error:')),
  };
};

test('status through the sentinel URL reads the master', async () => {
  const r = await status(set.url);
  assert.is(r.code, 0, r.out);
  assert.equal(r.errors, []);
});

test('a master name the sentinel does not monitor: one line naming the sentinels and the name, exit 10', async () => {
  const r = await status(`redis+sentinel://127.0.0.1:${set.sentinelPort}/nomaster?sentinelPassword=hunter2`);
  assert.is(r.code, EXIT_CODES.unreachable, r.out);
  assert.is(r.errors.length, 1, r.out);
  assert.match(r.errors[0]!, `cannot reach Redis through Sentinel: no answer from sentinels 127.0.0.1:${set.sentinelPort}/nomaster`);
  assert.match(r.errors[0]!, 'is the name after them one they monitor?');
  assert.not.match(r.out, 'hunter2', 'the sentinel password is never printed');
});

test('no sentinel answers: the same line, exit 10', async () => {
  const port = await freePort();
  const r = await status(`redis+sentinel://127.0.0.1:${port}/${set.name}`);
  assert.is(r.code, EXIT_CODES.unreachable, r.out);
  assert.is(r.errors.length, 1, r.out);
  assert.match(r.errors[0]!, `cannot reach Redis through Sentinel: no answer from sentinels 127.0.0.1:${port}/${set.name}`);
});

test.after(async () => {
  await set.close();
});
test.run();
