import type { FastifyInstance } from 'fastify';
import type { ApiLimits } from '../../lib/api/options.js';
import { buildServer, type ServerOptions } from '../../lib/api/server.js';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { silentLogger, type Logger } from '../../lib/observe/logger.js';
import { waitFor } from './redis.js';

/**
 * `ready()` on a server just built, which is closed if that throws: its caller gets no handle to
 * close, and the server's Redis readers would keep the test process alive past the failure.
 */
export async function readyOrClosed<T extends { close(): Promise<unknown> }>(app: T, ready: () => Promise<unknown>): Promise<T> {
  try {
    await ready();
  } catch (err) {
    await app.close();
    throw err;
  }
  return app;
}

/**
 * A real listening API server (HTTP on a random loopback port) for `config`, one admin `token`,
 * no backpressure cache and a short completions block, once its completion readers follow.
 * @param opts.logger @defaultValue silentLogger
 */
export async function listeningApi(
  config: ResolvedConfig,
  token: string,
  opts: { limits?: Partial<ApiLimits>; productReader?: ServerOptions['productReader']; logger?: Logger } = {},
): Promise<{ app: FastifyInstance; base: string }> {
  const app = await buildServer({
    config,
    tokens: [{ token, roles: ['admin'] }],
    logger: opts.logger ?? silentLogger,
    limits: { completionsBlockMs: 100, backpressureCacheMs: 0, ...opts.limits },
    ...(opts.productReader ? { productReader: opts.productReader } : {}),
  });
  await readyOrClosed(app, async () => {
    await app.listen({ host: '127.0.0.1', port: 0 });
    await waitFor('completions readers', () => app.pipeline.completions.following, 5_000);
  });
  return { app, base: `http://127.0.0.1:${(app.server.address() as { port: number }).port}` };
}

/**
 * An API server for `config` answered through `app.inject` (not listening), one admin `token`, no
 * backpressure cache and a short completions block (over which `limits` go), once its completions
 * reader follows.
 */
export async function injectedApi(config: ResolvedConfig, token: string, limits: Partial<ApiLimits> = {}): Promise<FastifyInstance> {
  const app = await buildServer({
    config,
    tokens: [{ token, roles: ['admin'] }],
    logger: silentLogger,
    limits: { backpressureCacheMs: 0, completionsBlockMs: 100, ...limits },
  });
  return readyOrClosed(app, () => waitFor('completions reader', () => app.pipeline.completions.following, 5_000));
}
