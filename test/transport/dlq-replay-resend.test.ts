/**
 * A dead-letter replay whose reply was lost with its connection is sent again by ioredis itself
 * once it reconnects; the entry had been replayed, so the re-send finds it gone, and the replay
 * still counts it as replayed, not skipped as "not in the DLQ" (which made `dlq replay` exit 1).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { replayDeadLetters } from '../../lib/ops/dlq.js';
import { Keys } from '../../lib/redis/keys.js';
import { addDeadLetter } from '../helpers/console.js';
import { rulesOnlyConfig } from '../helpers/pipeline.js';
import { throughReplyLosingProxy } from '../helpers/reply-losing-proxy.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test, { appendonly: true, appendfsync: 'always' });
const serverPort = Number(new URL(server.url).port);

test('a replay whose reply was lost with the connection, re-sent by the client on reconnect, counts as replayed: back on its stream once, none skipped', async () => {
  const config = rulesOnlyConfig(server.url, randomPipeline());
  const keys = new Keys(config.pipeline);
  // The Functions library loaded first (one replay), so the proxied connection's first FCALL is the replay.
  await replayDeadLetters(redis, config, { ids: [await addDeadLetter(redis, keys, { id: 'p0', title: 'warm-up' })] }, keys);
  const id = await addDeadLetter(redis, keys, { id: 'p1', title: 'a product' });
  await throughReplyLosingProxy(
    serverPort,
    async () => (await redis.xlen(keys.stream('in'))) === 2,
    async (viaProxy, proxy) => {
      const r = await replayDeadLetters(viaProxy, config, { ids: [id] }, keys);
      assert.ok(proxy.dropped(), 'the connection was dropped after the replay went through');
      assert.equal(r.skipped, []);
      assert.equal(
        r.replayed.map((x) => x.id),
        [id],
      );
      assert.is(await redis.xlen(keys.stream('in')), 2, 'back on its stream once (beside the warm-up)');
      assert.is(await redis.xlen(keys.dlq), 0);
    },
  );
});

test.run();
