/**
 * `pipeline webhooks` as its own ACL user (`<pipeline>-webhooks`, lib/ops/acl-webhooks.ts), made by
 * `pipeline acl --apply` when the config has webhooks: delivers, dead-letters, claims a crashed
 * consumer's entries and counts a trimmed gap (both scripts through FCALL) with nothing in Redis'
 * ACL LOG, unsharded and on 2 shards; refused writes of completions, stage streams and the store.
 */
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import type { PipelineConfig } from '../../lib/config/types.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { memoryMetrics } from '../../lib/observe/metrics.js';
import { aclUsers } from '../../lib/ops/acl.js';
import { WEBHOOKS_REDIS_URL_ENV } from '../../lib/ops/acl-webhooks.js';
import { Shards } from '../../lib/redis/shard.js';
import { recordCompletions } from '../../lib/stream/done.js';
import { webhookGroup } from '../../lib/webhooks/reader.js';
import { Webhooks } from '../../lib/webhooks/runner.js';
import { error, NOPERM } from '../helpers/acl.js';
import { cli, exited, writeConfig } from '../helpers/pipeline.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';
import { aclRefusals } from '../helpers/serve-as-user.js';
import { receiver } from '../helpers/webhook-receiver.js';

const server = await startRedis();
const admin = client(server.url);
const RAW = JSON.parse(readFileSync(new URL('../../config/rules-only.json', import.meta.url), 'utf8')) as PipelineConfig;
const HOOK = {
  name: 'app',
  secretEnv: 'HOOK_SECRET',
  blockMs: 50,
  checkIntervalMs: 100,
  timeoutMs: 2_000,
  backoffBaseMs: 20,
  backoffMaxMs: 100,
  claimMinIdleMs: 2_500,
};

test('no webhooks in the config: no webhooks user', () => {
  const config = resolveConfig({ ...RAW }, 'test', { env: { REDIS_URL: server.url } });
  assert.not.ok(aclUsers(config).some((u) => u.role === 'webhooks'));
});

for (const shards of [1, 2]) {
  test(`shards ${shards}: the webhooks user delivers, dead-letters, claims and counts a trimmed gap with nothing refused; writes elsewhere are refused`, async () => {
    // "bad" refused; each "ok" answered 503 once (a retry: the XCLAIM that touches it), then 200.
    const retried = new Set<string>();
    const rx = await receiver((_, r) => {
      if (r.body.includes('"bad"')) return 400;
      const id = String(r.headers['x-pipeline-event-id']);
      if (!r.body.includes('"ok"') || retried.has(id)) return 200;
      retried.add(id);
      return 503;
    });
    const pipeline = randomPipeline('whacl');
    const extra = { shards, limits: { doneMaxLen: 10 }, webhooks: [{ ...HOOK, url: rx.url }] };
    const file = writeConfig(pipeline, {}, extra);
    const config = resolveConfig({ ...RAW, pipeline, ...extra }, 'test', { env: { REDIS_URL: server.url } });
    const envFile = join(tmpdir(), `${pipeline}-users.env`);
    const apply = cli(['--config', file, 'acl', '--apply', '--write-env', envFile], server.url);
    assert.is(await exited(apply), 0, apply.output());
    const line = readFileSync(envFile, 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${WEBHOOKS_REDIS_URL_ENV}=`));
    rmSync(envFile, { force: true });
    assert.ok(line, 'the env file hands the user over');
    const url = line.slice(WEBHOOKS_REDIS_URL_ENV.length + 1);
    const user = `${pipeline}-webhooks`;
    const all = new Shards(pipeline, shards).all;
    const metrics = memoryMetrics();
    const first = new Webhooks({ config, secrets: new Map([['app', 'k']]), logger: silentLogger, metrics, redisUrl: url });
    await first.ready().finally(() => first.stop());
    // A consumer that read and died, and a gap trimmed past the group, on shard 0.
    await recordCompletions(admin, all[0]!, [{ key: 'gone', status: 'stored', stage: 'store' }], { maxLen: 10, statusTtlMs: 60_000 });
    await admin.xreadgroup('GROUP', webhookGroup('app'), 'crashed', 'COUNT', 1, 'STREAMS', all[0]!.done, '>');
    for (let i = 0; i < 3; i++)
      await recordCompletions(
        admin,
        all[0]!,
        Array.from({ length: 100 }, (_, j) => ({ key: `old${i}-${j}`, status: 'stored', stage: 'store' })),
        { maxLen: 10, statusTtlMs: 60_000 },
      );
    const hooks = new Webhooks({ config, secrets: new Map([['app', 'k']]), logger: silentLogger, metrics, redisUrl: url });
    await hooks.ready().catch(async (err: unknown) => {
      await hooks.stop(); // the try below has not begun: left open, its connections would hold the process
      throw err;
    });
    hooks.start();
    const count = (n: string) => metrics.records.filter((r) => r.name === n).reduce((a, r) => a + r.value, 0);
    try {
      await waitFor('the gap counted', () => count('webhooks.missed') > 0);
      const before = rx.received.length;
      for (const keys of all)
        await recordCompletions(
          admin,
          keys,
          [
            { key: 'ok', status: 'stored', stage: 'store' },
            { key: 'bad', status: 'stored', stage: 'store' },
          ],
          { maxLen: 10, statusTtlMs: 60_000 },
        );
      await waitFor(
        'delivered and dead-lettered on every shard',
        () => count('webhooks.dead_lettered') === shards && rx.received.length >= before + 2 * shards,
      );
      for (const keys of all) assert.is(await admin.xlen(keys.webhooksDlq), 1);
      const consumers = async () => ((await admin.xinfo('CONSUMERS', all[0]!.done, webhookGroup('app'))) as unknown[][]).map((c) => String(c[1]));
      await waitFor('the crashed consumer removed', async () => !(await consumers()).includes('crashed'));
      assert.equal(await aclRefusals(admin, user), [], 'nothing refused');
      await hooks.stop();
      assert.equal(await aclRefusals(admin, user), [], 'nor when leaving the groups');
      const as = new Redis(url, { maxRetriesPerRequest: 1 });
      try {
        await as.xrange(all[0]!.done, '-', '+', 'COUNT', 1); // an entry in retry, gone from the group: trimmed or acked by another
        assert.match(await error(as.xadd(all[0]!.done, '*', 'k', 'x')), NOPERM, 'no completions written');
        assert.match(await error(as.xadd(all[0]!.stream('in'), '*', 'k', 'x')), NOPERM, 'no stage stream');
        assert.match(await error(as.del(all[0]!.webhooksDlq)), NOPERM);
        assert.match(await error(as.hgetall(all[0]!.product('ok'))), NOPERM, 'no store reads');
        assert.match(await error(as.xgroup('DESTROY', all[0]!.done, webhookGroup('app'))), NOPERM);
      } finally {
        as.disconnect();
      }
    } finally {
      await hooks.stop();
      await rx.close();
      await admin.call('ACL', 'LOG', 'RESET');
    }
  });
}

test.after(async () => {
  admin.disconnect();
  await server.stop();
});

test.run();
