import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { RedisServer, type RedisServerOptions } from '../../lib/redis/server.js';

/**
 * For a test server a replica may sync from: Redis 7 holds each full sync `repl-diskless-sync-delay`
 * (default 5 s) for more replicas to join it, so every replica linked and every restarted node
 * rejoined would wait 5 s for nothing. 0: the sync starts at once.
 */
export const SYNC_NOW: Readonly<Record<string, string>> = { 'repl-diskless-sync-delay': '0' };

/** A real redis-server on a random loopback port for one test file (SYNC_NOW under the test's own settings). */
export async function startRedis(opts: RedisServerOptions = {}): Promise<RedisServer> {
  const { settings } = opts;
  const withSyncNow = typeof settings === 'function' ? async (port: number) => ({ ...SYNC_NOW, ...(await settings(port)) }) : { ...SYNC_NOW, ...settings };
  return new RedisServer({ ...opts, settings: withSyncNow }).start();
}

export function client(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: 3 });
}

/**
 * startRedis and a client of it for one test file, both closed after its tests (`suite`: the
 * file's uvu test): close, not stop, so the server's temp dir goes with it. uvu runs after-hooks in
 * the order they were added, so this one runs before the file's own: what still needs Redis when
 * it closes (an API, workers) is closed by a file that stops Redis itself after it.
 */
export async function redisForFile(
  suite: { after(hook: () => Promise<void>): void },
  opts: RedisServerOptions = {},
): Promise<{ server: RedisServer; redis: Redis }> {
  const server = await startRedis(opts);
  const redis = client(server.url);
  suite.after(async () => {
    redis.disconnect();
    await server.close();
  });
  return { server, redis };
}

/** A fresh pipeline name per test, so tests never see each other's keys. */
export function randomPipeline(prefix = 't'): string {
  return `${prefix}${randomBytes(4).toString('hex')}`;
}

/** Poll `check` until it returns true or the time runs out (then throw with `what`). */
export async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 20_000, everyMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Add `n` entries (`k` r0..r<n-1>, a placeholder body) to `stream` in one round trip: a lag to read against a limit. */
export async function addEntries(redis: Redis, stream: string, n: number): Promise<void> {
  const p = redis.pipeline();
  for (let i = 0; i < n; i++) p.xadd(stream, '*', 'k', `r${i}`, 'e', 'x');
  await p.exec();
}

/** A raw connection that only takes a client slot; null when the server refused it (maxclients). */
export function hogClientSlot(port: number): Promise<Socket | null> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('error', () => resolve(null));
    s.once('connect', () => s.write('PING\r\n'));
    s.once('data', (d) => {
      if (d.toString().startsWith('+PONG')) resolve(s);
      else {
        s.destroy();
        resolve(null);
      }
    });
  });
}

/** Take every free client slot of the server at `port` (until it refuses one); the caller destroys them. */
export async function hogAllClientSlots(port: number): Promise<Socket[]> {
  const hogs: Socket[] = [];
  for (let s = await hogClientSlot(port); s; s = await hogClientSlot(port)) hogs.push(s);
  return hogs;
}
