/**
 * A producer batch whose reply was lost with its connection is sent again by ioredis itself once
 * it reconnects; the batch had gone through, so the re-send adds nothing, and the run still counts
 * it as produced, not skipped (a Redis restart in the middle of `pipeline produce` had reported
 * `"produced":59500,"skipped":500` for 60,000 records all in once, and `npm run chaos` failed on it).
 */
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { produce } from '../../lib/producer/producer.js';
import { Keys } from '../../lib/redis/keys.js';
import { throughReplyLosingProxy } from '../helpers/reply-losing-proxy.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test, { appendonly: true, appendfsync: 'always' });
const serverPort = Number(new URL(server.url).port);

const records = (n: number) => Array.from({ length: n }, (_, i) => JSON.stringify({ id: `r${i}`, title: `item ${i}` })).join('\n') + '\n';

test('a batch whose reply was lost with the connection, re-sent by the client on reconnect, counts as produced: every record once, none skipped', async () => {
  const stream = new Keys(randomPipeline()).stream('in');
  // The Functions library loaded first, so the proxied connection's first FCALL is the batch.
  await produce(redis, Readable.from([records(1)]), { stream: `${stream}-warm`, source: 'warm-up', maxRecordBytes: 65536, waitReplicas: 0 });
  await throughReplyLosingProxy(
    serverPort,
    async () => (await redis.xlen(stream)) === 300,
    async (viaProxy, proxy) => {
      const summary = await produce(viaProxy, Readable.from([records(300)]), { stream, source: 'test', maxRecordBytes: 65536, waitReplicas: 0 });
      assert.ok(proxy.dropped(), 'the connection was dropped after the batch went through');
      assert.is(await redis.xlen(stream), 300, 'every record in the stream once');
      assert.equal({ produced: summary.produced, skipped: summary.skipped }, { produced: 300, skipped: 0 });
    },
  );
});

test.run();
