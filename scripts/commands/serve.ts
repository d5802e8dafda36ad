import type { FastifyInstance } from 'fastify';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { parseTokens } from '../../lib/api/auth.js';
import { buildServer, type ApiContext, type PluginEntry, type ProductReader, type ProductsReader } from '../../lib/api/server.js';
import { consolePlugin } from '../../lib/console/plugin.js';
import type { ApiLimits } from '../../lib/api/options.js';
import { createLogger, type Logger } from '../../lib/observe/logger.js';
import { API_REDIS_URL_ENV } from '../../lib/ops/acl-api.js';
import { onShutdownSignal } from '../../lib/worker/shutdown.js';
import { PARENT_POLL_MS } from '../../lib/core/parent-watch.js';
import { ConfigError, ListenError } from '../../lib/core/errors.js';
import { fromEnv } from '../../lib/core/env-origin.js';
import { findStoreStage, readPostgresProduct, readPostgresProducts, readRedisProduct } from '../../stages/sinks/export.js';
import { createPool, postgresOptionsFrom } from '../../stages/sinks/postgres.js';
import { loadConfig, ownRedisUrl, refuseTlsMismatch, type GlobalOptions } from './common.js';

export interface ServeCliOptions extends GlobalOptions {
  /** @defaultValue env PORT, else 8080 */
  port?: string;
  /** @defaultValue env HOST, else 127.0.0.1 */
  host?: string;
  /** Stop as on SIGTERM once a process `serve` was started under (npm, npx, sh) is gone; polled this often, 0: never. @defaultValue PARENT_POLL_MS (1000) */
  parentPollMs?: string;
}

/**
 * Stored products as `pipeline export` writes them, from the store stage's sink (redis or
 * postgres): one (`read`), or several in one query with postgres (`readMany`; with redis each
 * key's HGETALL, pipelined by the command connection).
 */
export function productReader(ctx: Pick<ApiContext, 'config' | 'redis' | 'logger' | 'shards'>): {
  read: ProductReader;
  readMany?: ProductsReader;
  close: () => Promise<void>;
} {
  const { config, logger } = ctx;
  const stage = findStoreStage(config);
  if (String(stage.settings.sink ?? 'redis') === 'postgres') {
    const o = postgresOptionsFrom(stage.settings, process.env, `stages.${stage.name}.settings`);
    const pool = createPool(o, logger, 'pipeline:api');
    return {
      read: async (key) => (await readPostgresProduct(pool, o.schema, key)) as Record<string, unknown> | null,
      readMany: async (keys) => (await readPostgresProducts(pool, o.schema, keys)) as unknown as Map<string, Record<string, unknown>>,
      close: () => pool.end(),
    };
  }
  // Sharded: each product is in its shard's hash (`shards.keysFor(key)`).
  return { read: async (key) => (await readRedisProduct(ctx.redis, ctx.shards, key)) as Record<string, unknown> | null, close: async () => {} };
}

/**
 * The Redis URL the API server connects with: env `PIPELINE_API_REDIS_URL` (the API user of
 * `pipeline acl`, lib/ops/acl-api.ts) when set, else `redis.url` (REDIS_URL), as a worker takes
 * `REDIS_URL_<STAGE>` over REDIS_URL; so `set -a; . ./.env.redis` runs `pipeline up --serve` with the
 * supervisor on REDIS_URL, each stage as its user and the server as the API user.
 */
export function apiRedisUrl(config: ResolvedConfig, env: NodeJS.ProcessEnv = process.env): string {
  return ownRedisUrl(API_REDIS_URL_ENV, config.redis.url, env);
}

/**
 * The API server for a config: buildServer plus the sink's product reader, listening on
 * `host:port`. Returns the instance (closed by `app.close()`). Used by `pipeline serve`,
 * `pipeline up --serve` and `npm start -- --serve`; connects with `apiRedisUrl`.
 * Plugins: the console (lib/console/plugin.ts) unless `o.plugins` says otherwise.
 */
export async function startServer(
  config: ResolvedConfig,
  o: { host: string; port: number; limits?: Partial<ApiLimits>; plugins?: PluginEntry[]; logger?: Logger },
): Promise<FastifyInstance> {
  const logger = o.logger ?? createLogger({ component: 'api' });
  const app = await buildServer({
    config,
    redisUrl: apiRedisUrl(config),
    host: o.host,
    tokens: parseTokens(process.env.API_TOKENS),
    logger,
    productReader,
    ...(o.limits ? { limits: o.limits } : {}),
    plugins: o.plugins ?? [{ plugin: consolePlugin }],
  });
  try {
    await app.listen({ host: o.host, port: o.port });
  } catch (err) {
    // A port in use: the server's connections and the console's sampler stop with it (they had gone
    // on, logging a false "Redis is unreachable" and reconnect warnings while the command failed).
    await app.close().catch(() => undefined);
    throw listenError(err, o.host, o.port);
  }
  logger.info('api.listening', { host: o.host, port: (app.server.address() as { port: number }).port });
  return app;
}

/**
 * A failed bind as one line that says where, why and what to change: a bare `listen EADDRINUSE:
 * address already in use 127.0.0.1:8080` had left a newcomer's `npm start -- --serve` (8080 taken
 * by another server) without the option that moves it.
 */
export function listenError(err: unknown, host: string, port: number): unknown {
  const code = (err as { code?: unknown }).code;
  const fix =
    code === 'EADDRINUSE'
      ? 'the port is in use (another server, or a `pipeline serve` / `npm start -- --serve` still running): pick another with --port N or env PORT'
      : code === 'EACCES'
        ? 'not allowed to listen there (ports below 1024 need privileges): pick another with --port N or env PORT'
        : code === 'EADDRNOTAVAIL'
          ? "that address is not one of this machine's: pick another with --host A or env HOST"
          : undefined;
  return fix ? new ListenError(`cannot serve the HTTP API on ${host}:${port}: ${fix} [${(err as Error).message}]`, { cause: err }) : err;
}

/**
 * An environment variable, empty taken as unset (as for LOG_LEVEL): a compose file's `PORT: ${PORT}`
 * with PORT unset renders it empty, and an empty PORT had served on a random free port (Number('') is 0),
 * an empty HOST had been refused as "listen on " (with tokens, taken as every interface).
 */
const envSetting = (name: string): string | undefined => process.env[name] || undefined;

/** Port from `--port`, else env PORT, else 8080; a bad PORT is an error naming the variable (it had named `--port`, which was not given). */
export function servePort(port: string | undefined): number {
  const value = port ?? envSetting('PORT');
  const n = Number(value ?? 8080);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new ConfigError(port === undefined ? fromEnv('PORT') : '--port', `expected a port number, 0-65535, got ${JSON.stringify(value)}`);
  return n;
}

/** Address from `--host`, else env HOST, else 127.0.0.1. */
export const serveHost = (host: string | undefined): string => host ?? envSetting('HOST') ?? '127.0.0.1';

/** An API server bound ahead of a job (`npm start -- --serve`). */
export interface BoundApi {
  /**
   * Say where it is (and, given `cli`, the command that points the CLI at this pipeline), serve until
   * `stop` resolves (a signal), then close gracefully.
   */
  until(stop: Promise<void>, cli?: string): Promise<void>;
  /** Close it (once; again is a no-op): a job that failed first. */
  close(): Promise<void>;
}

/**
 * `npm start -- --serve`: the API bound now, before the job runs, as `up --serve` binds before any
 * worker starts: a port in use is one error line before anything is produced (it had been found
 * after the whole run and its summary).
 */
export async function serveFirst(config: ResolvedConfig, o: { host?: string; port?: string }, logger: Logger): Promise<BoundApi> {
  const host = serveHost(o.host);
  const app = await startServer(config, { host, port: servePort(o.port), logger });
  const port = (app.server.address() as { port: number }).port;
  let closed: Promise<void> | undefined;
  const close = () => (closed ??= app.close());
  return {
    close,
    async until(stop, cli) {
      process.stderr.write(
        `serving the API on http://${host}:${port} (Ctrl-C stops), e.g.\n  curl -X POST ${host}:${port}/v1/enrich -d '{"id":"x1","title":"SanDisk Ultra 64GB USB 3.0 Flash Drive SDCZ48-064G-A46"}'\n` +
          (cli ? `the CLI on this pipeline (its Redis stops with it): ${cli} (or status, dlq list, export, ...)\n` : ''),
      );
      await stop;
      await close();
    },
  };
}

/** `pipeline serve`: the HTTP API until SIGTERM/SIGINT or its npm/npx is gone (then: stop accepting, finish in-flight requests, end SSE streams, close Redis). */
export async function serveCommand(opts: ServeCliOptions): Promise<void> {
  const config = loadConfig(opts);
  refuseTlsMismatch([apiRedisUrl(config)]);
  const logger = createLogger({ component: 'api' });
  const port = servePort(opts.port);
  const app = await startServer(config, { host: serveHost(opts.host), port, logger });
  await new Promise<void>((resolve) => {
    onShutdownSignal(
      async () => {
        await app.close();
        resolve();
      },
      logger,
      { parentPollMs: Number(opts.parentPollMs ?? PARENT_POLL_MS) },
    );
  });
}
