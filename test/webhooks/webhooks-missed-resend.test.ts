/**
 * A check for completions trimmed past a webhook group whose reply was lost with its connection:
 * the first call found the gap, moved the group past it and answered how many were lost; ioredis
 * sent the call again by itself on reconnect, and the re-send finds no gap. The loss report went
 * with the lost reply; the reader now says it may have missed some (`webhook.missed_unsure`), so a
 * loss is never silent. A check with no drop on a group that lost nothing says nothing.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createLogger } from '../../lib/observe/logger.js';
import { memoryMetrics } from '../../lib/observe/metrics.js';
import { Keys } from '../../lib/redis/keys.js';
import { checkMissed } from '../../lib/webhooks/missed.js';
import { webhookGroup } from '../../lib/webhooks/reader.js';
import { throughReplyLosingProxy } from '../helpers/reply-losing-proxy.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test, { appendonly: true, appendfsync: 'always' });
const serverPort = Number(new URL(server.url).port);
const group = webhookGroup('app');

/** 300 completions on `{p}:done`, the group created before them at 0, the stream trimmed to its last 100. */
async function trimmedPastGroup(keys: Keys): Promise<void> {
  await redis.xgroup('CREATE', keys.done, group, '0', 'MKSTREAM', 'ENTRIESREAD', 0);
  for (let i = 0; i < 300; i++) await redis.xadd(keys.done, '*', 'k', `p${i}`);
  await redis.xtrim(keys.done, 'MAXLEN', 100);
}

const lastDelivered = async (keys: Keys) => {
  const g = ((await redis.xinfo('GROUPS', keys.done)) as unknown[][])[0]!;
  return String(g[g.indexOf('last-delivered-id') + 1]);
};

test('a gap check whose reply was lost with the connection says the group may have missed completions', async () => {
  const keys = new Keys(randomPipeline('wh'));
  await trimmedPastGroup(keys);
  const lines: string[] = [];
  const logger = createLogger({}, 'info', (l) => lines.push(l));
  // The Functions library loaded first (one check on another group), so the proxied connection's first FCALL is the check.
  await checkMissed(redis, keys.done, webhookGroup('warm-up'), { hook: { name: 'warm-up' }, logger, metrics: memoryMetrics() });
  await throughReplyLosingProxy(
    serverPort,
    async () => (await lastDelivered(keys)) !== '0-0',
    async (viaProxy, proxy) => {
      const n = await checkMissed(viaProxy, keys.done, group, { hook: { name: 'app' }, logger, metrics: memoryMetrics() });
      assert.ok(proxy.dropped(), 'the connection was dropped after the check moved the group');
      assert.is(n, 0, "the re-send's answer: no gap left");
      const said = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.event === 'webhook.missed_unsure');
      assert.is(said.length, 1, lines.join('\n'));
      assert.is(said[0]!.level, 'error');
      assert.is(said[0]!.webhook, 'app');
    },
  );
});

test('a check with no drop, on a group that lost nothing, says nothing', async () => {
  const keys = new Keys(randomPipeline('wh'));
  await redis.xadd(keys.done, '*', 'k', 'p0');
  await redis.xgroup('CREATE', keys.done, group, '$', 'ENTRIESREAD', 1);
  const lines: string[] = [];
  const n = await checkMissed(redis, keys.done, group, {
    hook: { name: 'app' },
    logger: createLogger({}, 'info', (l) => lines.push(l)),
    metrics: memoryMetrics(),
  });
  assert.is(n, 0);
  assert.equal(lines, []);
});

test.run();
