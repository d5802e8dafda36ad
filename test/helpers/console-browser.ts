import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Browser } from 'playwright-core';
import type { ResolvedConfig } from '../../lib/config/types.js';
import type { ConsoleOptions } from '../../lib/console/options.js';
import type { RedisServer } from '../../lib/redis/server.js';
import { launchBrowser } from './browser.js';
import { startConsole } from './console.js';
import { client, startRedis } from './redis.js';

export interface ConsoleInBrowser {
  server: RedisServer;
  redis: Redis;
  config: ResolvedConfig;
  app: FastifyInstance;
  url: string;
  browser: Browser;
}

/**
 * What a console browser test file runs against: a redis-server and a client of it, the console
 * (`pipeline serve`, startConsole with `opts`) for the config `configFor` makes from the server's
 * URL, and headless Chromium. All are closed after the file's tests (`suite`: its uvu test), in the
 * reverse order: the browser first, redis-server last.
 */
export async function consoleInBrowser(
  suite: { after(hook: () => Promise<void>): void },
  configFor: (redisUrl: string) => ResolvedConfig,
  opts?: Partial<ConsoleOptions>,
): Promise<ConsoleInBrowser> {
  const server = await startRedis();
  const redis = client(server.url);
  const config = configFor(server.url);
  const { app, url } = await startConsole(config, opts);
  const browser = await launchBrowser();
  suite.after(async () => {
    await browser.close();
    await app.close();
    redis.disconnect();
    await server.close();
  });
  return { server, redis, config, app, url, browser };
}
