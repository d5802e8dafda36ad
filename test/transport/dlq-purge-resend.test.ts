/**
 * A dead-letter purge whose reply was lost with its connection is sent again by ioredis itself once
 * it reconnects; the entries had been deleted, so the re-send deletes none, and the purge still
 * names them as purged (`dlq purge` said "not found" and exited 1). An id that was never a dead
 * letter is not named, drop or not.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { purgeDeadLetters } from '../../lib/ops/dlq.js';
import { Keys } from '../../lib/redis/keys.js';
import { addDeadLetter } from '../helpers/console.js';
import { throughReplyLosingProxy } from '../helpers/reply-losing-proxy.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test, { appendonly: true, appendfsync: 'always' });
const serverPort = Number(new URL(server.url).port);

for (const how of ['by id', 'all'] as const) {
  test(`a purge (${how}) whose reply was lost with the connection names what it deleted, and nothing else`, async () => {
    const keys = new Keys(randomPipeline());
    // The Functions library loaded first (one purge), so the proxied connection's first FCALL is the purge.
    await purgeDeadLetters(redis, keys, { ids: [await addDeadLetter(redis, keys, { id: 'p0', title: 'warm-up' })] });
    const ids = [await addDeadLetter(redis, keys, { id: 'p1', title: 'a product' }), await addDeadLetter(redis, keys, { id: 'p2', title: 'another' })];
    const never = '1-1';
    await throughReplyLosingProxy(
      serverPort,
      async () => (await redis.xlen(keys.dlq)) === 0,
      async (viaProxy, proxy) => {
        const purged = await purgeDeadLetters(viaProxy, keys, how === 'all' ? { all: true } : { ids: [never, ...ids] });
        assert.ok(proxy.dropped(), 'the connection was dropped after the purge went through');
        assert.equal(purged, ids);
        assert.is(await redis.xlen(keys.dlq), 0);
      },
    );
  });
}

test.run();
