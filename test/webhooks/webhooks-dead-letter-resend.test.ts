/**
 * A webhook dead letter whose reply was lost with its connection is sent again by ioredis itself
 * once it reconnects; the first call had added the dead letter and acked the entry, and the
 * re-send adds none (it had added a second: `webhooks dlq` listed the event twice, and a redeliver
 * sent it twice). It is counted and logged once.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import { createLogger } from '../../lib/observe/logger.js';
import { memoryMetrics } from '../../lib/observe/metrics.js';
import { loadLibrary } from '../../lib/redis/functions.js';
import { Keys } from '../../lib/redis/keys.js';
import { recordCompletions } from '../../lib/stream/done.js';
import { webhookGroup } from '../../lib/webhooks/reader.js';
import { Webhooks } from '../../lib/webhooks/runner.js';
import { replyLosingProxy } from '../helpers/reply-losing-proxy.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';
import { receiver } from '../helpers/webhook-receiver.js';

const { server, redis } = await redisForFile(test, { appendonly: true, appendfsync: 'always' });
const serverPort = Number(new URL(server.url).port);
// Loaded first: the library's code names every function, so a load through the proxy would match it.
await loadLibrary(redis);

test('a dead letter whose reply was lost with the connection is kept, counted and logged once', async () => {
  const rx = await receiver(() => 400);
  const pipeline = randomPipeline('wh');
  const keys = new Keys(pipeline);
  // Only the dead letter's call loses its reply, a script call or a transaction (the reader's other calls pass).
  const proxy = await replyLosingProxy(serverPort, async () => (await redis.xlen(keys.webhooksDlq)) > 0, /webhook_dead_letter|multi/i);
  const config = resolveConfig(
    {
      pipeline,
      stages: [{ name: 'store', kind: 'store', input: 'in' }],
      routes: {},
      webhooks: [{ name: 'app', url: rx.url, secretEnv: 'HOOK_SECRET', timeoutMs: 2_000, blockMs: 50, checkIntervalMs: 100 }],
    },
    'test',
    { env: { REDIS_URL: `redis://127.0.0.1:${proxy.port}` } },
  );
  const logs: string[] = [];
  const metrics = memoryMetrics();
  const hooks = new Webhooks({ config, secrets: new Map([['app', 's3cret']]), logger: createLogger({}, 'info', (l) => logs.push(l)), metrics });
  const count = (name: string) => metrics.records.filter((r) => r.name === name).reduce((a, r) => a + r.value, 0);
  try {
    await hooks.ready();
    hooks.start();
    await recordCompletions(redis, keys, [{ key: 'c1', status: 'stored', stage: 'store' }], { maxLen: 1000, statusTtlMs: 60_000 });
    await waitFor('the dead letter counted', () => count('webhooks.dead_lettered') > 0);
    assert.ok(proxy.dropped(), 'the connection was dropped after the dead letter went in');
    assert.is(await redis.xlen(keys.webhooksDlq), 1, 'one dead letter');
    assert.is(((await redis.xpending(keys.done, webhookGroup('app'))) as [number])[0], 0, 'acked');
    assert.is(count('webhooks.dead_lettered'), 1);
    assert.is(logs.filter((l) => l.includes('"event":"webhook.dead_lettered"')).length, 1, logs.join('\n'));
  } finally {
    await hooks.stop();
    proxy.close();
    await rx.close();
  }
});

test.run();
