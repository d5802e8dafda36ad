import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Browser } from 'playwright-core';
import type { ResolvedConfig } from '../../lib/config/types.js';
import type { ConsoleOptions } from '../../lib/console/options.js';
import type { RedisServer } from '../../lib/redis/server.js';
import type { Worker } from '../../lib/worker/worker.js';
import { launchBrowser } from './browser.js';
import { startConsole } from './console.js';
import { startWorkers, stopAll } from './pipeline.js';
import { client, startRedis } from './redis.js';

export interface ConsoleInBrowserOptions {
  /** startConsole's options. @defaultValue startConsole's */
  console?: Partial<ConsoleOptions>;
  /** Run a worker per stage (startWorkers), started before the console. @defaultValue false */
  workers?: boolean;
  /** startRedis's options (server settings). @defaultValue none */
  redis?: Parameters<typeof startRedis>[0];
}

export interface ConsoleInBrowser {
  server: RedisServer;
  redis: Redis;
  config: ResolvedConfig;
  app: FastifyInstance;
  url: string;
  browser: Browser;
  /** The workers started with `workers` (none without). */
  workers: Worker[];
}

/**
 * What a console browser test file runs against: a redis-server and a client of it, the console
 * (`pipeline serve`) for the config `configFor` makes from the server's URL, with `o.workers` its
 * workers, and headless Chromium. All are closed after the file's tests (`suite`: its uvu test),
 * in the reverse order: the browser first, redis-server last.
 */
export async function consoleInBrowser(
  suite: { after(hook: () => Promise<void>): void },
  configFor: (redisUrl: string) => ResolvedConfig,
  o: ConsoleInBrowserOptions = {},
): Promise<ConsoleInBrowser> {
  const server = await startRedis(o.redis);
  const redis = client(server.url);
  const config = configFor(server.url);
  const workers = o.workers ? startWorkers(config) : [];
  const { app, url } = await startConsole(config, o.console);
  const browser = await launchBrowser();
  suite.after(async () => {
    await browser.close();
    await app.close();
    await stopAll(workers);
    redis.disconnect();
    await server.close();
  });
  return { server, redis, config, app, url, browser, workers };
}
