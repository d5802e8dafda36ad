import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisServer, type RedisServerOptions } from '../../lib/redis/server.js';

/** A real redis-server on a random loopback port for one test file. */
export async function startRedis(opts: RedisServerOptions = {}): Promise<RedisServer> {
  return new RedisServer(opts).start();
}

export function client(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: 3 });
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
