/**
 * `pipeline start` and `pipeline up` on a Redis that evicts any key at maxmemory (`allkeys-*`):
 * refused before a record goes in or a worker starts, with the line `produce` and the workers give
 * (each worker refuses such a Redis, so they had crash-looped while `start` produced its input).
 */
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Keys } from '../../lib/redis/keys.js';
import { cli, exitedWithin, FAST, writeConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test, { settings: { 'maxmemory-policy': 'allkeys-lru' } });
const pipeline = randomPipeline('ev');
const configFile = writeConfig(pipeline, FAST);
const input = join(tmpdir(), `${pipeline}-input.jsonl`);
writeFileSync(input, [1, 2, 3].map((i) => JSON.stringify({ id: `p${i}`, title: `Product ${i}` })).join('\n') + '\n');

const REFUSED = /^error: config error at maxmemory-policy: maxmemory-policy is allkeys-lru, not noeviction.*refusing to start/m;

for (const args of [
  ['start', '--input', input, '--timeout', '20000'],
  ['up', '--no-autoscale'],
]) {
  test(`pipeline ${args[0]} on an allkeys-lru Redis: exit 1 naming maxmemory-policy, no worker started, nothing produced`, async () => {
    const p = cli(['--config', configFile, ...args], server.url);
    const code = await exitedWithin(p, 15_000);
    if (code === 'running') p.kill('SIGTERM');
    assert.is(code, 1, p.output());
    assert.match(p.output(), REFUSED);
    assert.not.match(p.output(), /supervisor\.started/, 'no worker started');
    assert.is(await redis.exists(new Keys(pipeline).stream('in')), 0, 'nothing produced');
  });
}

test.after(async () => {
  rmSync(configFile, { force: true });
  rmSync(input, { force: true });
});
test.run();
