/**
 * A webhook dead-letter purge whose reply was lost with its connection is sent again by ioredis
 * itself once it reconnects; the entries had been deleted, so the re-send deletes none, and the
 * purge still names them as deleted (`webhooks dlq purge` said "not found" and exited 1).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Keys } from '../../lib/redis/keys.js';
import { deleteWebhookDeadLetters, selectWebhookDeadLetters } from '../../lib/webhooks/dlq.js';
import { throughReplyLosingProxy } from '../helpers/reply-losing-proxy.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test, { appendonly: true, appendfsync: 'always' });
const serverPort = Number(new URL(server.url).port);

/** One webhook dead letter, with the fields the reader writes. */
async function addWebhookDeadLetter(keys: Keys, key: string): Promise<string> {
  const body = JSON.stringify({ key, status: 'stored' });
  return (await redis.xadd(
    keys.webhooksDlq,
    '*',
    'webhook',
    'hook',
    'event_id',
    `e-${key}`,
    'reason',
    'refused',
    'attempts',
    '1',
    'status',
    '400',
    'error',
    'HTTP 400',
    'body',
    body,
  ))!;
}

test('a webhook dead-letter purge whose reply was lost with the connection names what it deleted', async () => {
  const keys = new Keys(randomPipeline());
  // The Functions library loaded first (one purge), so the proxied connection's first FCALL is the purge.
  await deleteWebhookDeadLetters(redis, keys, [await addWebhookDeadLetter(keys, 'warm')]);
  const ids = [await addWebhookDeadLetter(keys, 'p1'), await addWebhookDeadLetter(keys, 'p2')];
  await throughReplyLosingProxy(
    serverPort,
    async () => (await redis.xlen(keys.webhooksDlq)) === 0,
    async (viaProxy, proxy) => {
      const entries = await selectWebhookDeadLetters(viaProxy, keys, { all: true });
      const deleted = await deleteWebhookDeadLetters(
        viaProxy,
        keys,
        entries.map((e) => e.id),
      );
      assert.ok(proxy.dropped(), 'the connection was dropped after the purge went through');
      assert.equal(deleted, ids);
      assert.is(await redis.xlen(keys.webhooksDlq), 0);
    },
  );
});

test.run();
