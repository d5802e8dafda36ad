import { createServer, connect, type Socket } from 'node:net';
import type { Redis } from 'ioredis';
import { client, waitFor } from './redis.js';

/**
 * A TCP proxy to a redis-server that loses the reply of the first command matching `command` it
 * passes (default: the first FCALL; a fault injector, the server is real): it forwards the call,
 * holds back what the server answers, and once `landed()` says the call went through it closes both
 * sockets, as a Redis restart or a network cut after the write would. The client reconnects through
 * it, and later connections pass everything.
 */
export async function replyLosingProxy(
  serverPort: number,
  landed: () => Promise<boolean>,
  command = /fcall/i,
): Promise<{ port: number; dropped: () => boolean; close: () => void }> {
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
      if (!armed || !command.test(d.toString('latin1'))) return;
      armed = false;
      holdReplies = true;
      // Never applied (the test fails on its own deadline then): close anyway, so nothing hangs.
      void waitFor('the call applied', landed)
        .then(() => (dropped = true))
        .catch(() => {})
        .finally(close);
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

/**
 * `use` run with a client whose connection goes through a replyLosingProxy (the proxy passed too,
 * for its `dropped()`); both closed after, whatever `use` did.
 */
export async function throughReplyLosingProxy<T>(
  serverPort: number,
  landed: () => Promise<boolean>,
  use: (viaProxy: Redis, proxy: { dropped: () => boolean }) => Promise<T>,
  command = /fcall/i,
): Promise<T> {
  const proxy = await replyLosingProxy(serverPort, landed, command);
  const viaProxy = client(`redis://127.0.0.1:${proxy.port}`);
  viaProxy.on('error', () => {}); // the drop is the point
  try {
    return await use(viaProxy, proxy);
  } finally {
    viaProxy.disconnect();
    proxy.close();
  }
}
