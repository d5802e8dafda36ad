/**
 * A producer batch whose reply was lost with its connection is sent again by ioredis itself once
 * it reconnects; the batch had gone through, so the re-send adds nothing, and the run still counts
 * it as produced, not skipped (a Redis restart in the middle of `pipeline produce` had reported
 * `"produced":59500,"skipped":500` for 60,000 records all in once, and `npm run chaos` failed on it).
 */
import { createServer, connect, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { produce } from '../../lib/producer/producer.js';
import { Keys } from '../../lib/redis/keys.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';

const server = await startRedis({ appendonly: true, appendfsync: 'always' });
const redis = client(server.url);
const serverPort = Number(new URL(server.url).port);

/**
 * A TCP proxy to the server that loses the reply of the first FCALL it passes: it forwards the call,
 * holds back what the server answers, and once `landed()` says the call went through it closes both
 * sockets. Later connections pass everything.
 */
async function replyLosingProxy(landed: () => Promise<boolean>): Promise<{ port: number; dropped: () => boolean; close: () => void }> {
  let dropped = false;
  let armed = true;
  const sockets = new Set<Socket>();
  const proxy = createServer((a) => {
    const b = connect(serverPort, '127.0.0.1');
    let holdReplies = false;
    for (const s of [a, b]) sockets.add(s);
    const close = () => (a.destroy(), b.destroy());
    a.on('data', (d: Buffer) => {
      b.write(d);
      if (!armed || !/fcall/i.test(d.toString('latin1'))) return;
      armed = false;
      holdReplies = true;
      void waitFor('the batch in the stream', landed).then(() => {
        dropped = true;
        close();
      });
    });
    b.on('data', (d: Buffer) => holdReplies || a.write(d));
    a.on('close', close).on('error', close);
    b.on('close', close).on('error', close);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  return {
    port: (proxy.address() as { port: number }).port,
    dropped: () => dropped,
    close: () => {
      for (const s of sockets) s.destroy();
      proxy.close();
    },
  };
}

const records = (n: number) => Array.from({ length: n }, (_, i) => JSON.stringify({ id: `r${i}`, title: `item ${i}` })).join('\n') + '\n';

test('a batch whose reply was lost with the connection, re-sent by the client on reconnect, counts as produced: every record once, none skipped', async () => {
  const stream = new Keys(randomPipeline()).stream('in');
  // The Functions library loaded first, so the proxied connection's first FCALL is the batch.
  await produce(redis, Readable.from([records(1)]), { stream: `${stream}-warm`, source: 'warm-up', maxRecordBytes: 65536, waitReplicas: 0 });
  const proxy = await replyLosingProxy(async () => (await redis.xlen(stream)) === 300);
  const viaProxy = client(`redis://127.0.0.1:${proxy.port}`);
  viaProxy.on('error', () => {});
  try {
    const summary = await produce(viaProxy, Readable.from([records(300)]), { stream, source: 'test', maxRecordBytes: 65536, waitReplicas: 0 });
    assert.ok(proxy.dropped(), 'the connection was dropped after the batch went through');
    assert.is(await redis.xlen(stream), 300, 'every record in the stream once');
    assert.equal({ produced: summary.produced, skipped: summary.skipped }, { produced: 300, skipped: 0 });
  } finally {
    viaProxy.disconnect();
    proxy.close();
  }
});

test.after(async () => {
  redis.disconnect();
  await server.stop();
});

test.run();
