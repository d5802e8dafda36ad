import { rmSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EXIT_CODES } from '../../lib/redis/diagnose.js';
import { Keys } from '../../lib/redis/keys.js';
import { allowWrites, refuseWrites } from '../helpers/misconf.js';
import { cli, exited, FAST, rulesOnlyConfig, writeConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';
import { injectedApi } from '../helpers/api-server.js';

/**
 * Redis that cannot persist (MISCONF) met by the clients that write records in: the HTTP API and
 * `pipeline produce`. An outage, answered as one (503 with Retry-After, waiting with --retry-for,
 * the outage's exit code), as Redis full is (test/api/api-load.test.ts, test/cli/cli-errors.test.ts);
 * before, the API answered 500 and produce stopped at once with exit 1.
 */
const { server, redis } = await redisForFile(test);
const TOKEN = 'admin-token-0123456789a';
const H = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
const records = (n: number, p = 'r') => Array.from({ length: n }, (_, i) => JSON.stringify({ id: `${p}${i}`, title: `item ${i}` })).join('\n');

test('POST /v1/products while Redis cannot persist: 503 unavailable with Retry-After, nothing taken, not a 500, /readyz 503; accepted once a save succeeds', async () => {
  const pipeline = randomPipeline();
  const app = await injectedApi(rulesOnlyConfig(server.url, pipeline), TOKEN);
  try {
    await refuseWrites(redis);
    const r = await app.inject({
      method: 'POST',
      url: '/v1/products',
      headers: H,
      payload: [
        { id: 'm1', title: 't' },
        { id: 'm2', title: 't' },
      ],
    });
    assert.is(r.statusCode, 503, r.body);
    assert.is(r.headers['retry-after'], '1');
    assert.is(r.json().error, 'unavailable');
    assert.match(r.json().message, /^MISCONF/);
    assert.is(await redis.xlen(new Keys(pipeline).stream('in')), 0, 'nothing taken');
    const ready = await app.inject({ method: 'GET', url: '/readyz' });
    assert.equal([ready.statusCode, ready.json().redis], [503, false], 'not ready: Redis answers PING with MISCONF');
  } finally {
    await allowWrites(redis);
  }
  try {
    assert.is((await app.inject({ method: 'POST', url: '/v1/products', headers: H, payload: { id: 'm1', title: 't' } })).statusCode, 202);
  } finally {
    await app.close();
  }
});

test('pipeline produce while Redis cannot persist: with --retry-for 0, exit 16 (unavailable) with one line naming the disk; with it, waits, says so, and completes every record once a save succeeds', async () => {
  const pipeline = randomPipeline();
  const file = writeConfig(pipeline, FAST);
  const keys = new Keys(pipeline);
  try {
    await refuseWrites(redis);
    const once = cli(['--config', file, 'produce', '--retry-for', '0', '--rejects', `/tmp/${pipeline}.rejects`], server.url, { input: records(10) });
    const code = await exited(once);
    assert.is(code, EXIT_CODES.unavailable, `exit code of an outage: ${once.output()}`);
    const errors = once
      .output()
      .split('\n')
      .filter((l) => l.startsWith('error:'));
    assert.is(errors.length, 1, `one error line: ${once.output()}`);
    assert.match(errors[0]!, /cannot persist to disk.*MISCONF/);
    assert.not.match(once.output(), /^\s+at /m, 'no stack trace');

    const produce = cli(['--config', file, 'produce', '--retry-for', '60000', '--rejects', `/tmp/${pipeline}.rejects`], server.url, { input: records(300) });
    await waitFor('produce says it waits for the disk', () => /waiting: Redis cannot persist to disk/.test(produce.output()), 20_000);
    assert.is(produce.exitCode, null, 'still waiting, not failed');
    await allowWrites(redis);
    assert.is(await exited(produce), 0, produce.output());
    assert.match(produce.output(), /"produced":300/);
    assert.is(await redis.xlen(keys.stream('in')), 300, 'every record added once');
  } finally {
    await allowWrites(redis);
    rmSync(file, { force: true });
  }
});

test.run();
