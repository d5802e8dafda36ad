import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyPluginAsync, type FastifyPluginCallback } from 'fastify';
import type { Redis } from 'ioredis';
import type { ResolvedConfig } from '../config/types.js';
import { ConfigError } from '../core/errors.js';
import { createLogger, type Logger } from '../observe/logger.js';
import { Registry } from 'prom-client';
import { API_METRICS } from '../observe/api-metric-specs.js';
import { createMetrics, type Metrics } from '../observe/metrics.js';
import { prometheusMetrics, teeMetrics } from '../observe/prometheus-metrics.js';
import { Connections } from '../redis/connections.js';
import { Keys } from '../redis/keys.js';
import { configShards, Shards } from '../redis/shard.js';
import { authenticator, isLoopback, openModeRefusal, parseTokens, type ApiToken } from './auth.js';
import { fastifyLogger } from './log.js';
import { openapiDocument, type RouteInfo } from './openapi.js';
import { API_DEFAULTS, type ApiLimits } from './options.js';
import { badPath, errorHandler, fromStore, Unavailable } from './errors.js';
import { registerRoutes } from './routes.js';
import { registerBodyParsers } from './body-parsers.js';
import { Completions } from '../stream/completions.js';
import { watchDataLoss } from './server-data-loss-watch.js';
import { guardEviction, type EvictionGuard } from './eviction-guard.js';
import { buildValidator } from './validators.js';
import { countRequest, registerRequestMetrics, UNMATCHED } from './request-metrics.js';
import { RouteMethods } from './route-methods.js';
import { ClientErrors } from './client-errors.js';
import { echo } from './echo.js';
import { WaitSlots } from './wait-slots.js';
import { ConnectionDrain } from './connection-drain.js';

/** What the routes (and plugins such as the console) share: decorated on the instance as `app.pipeline`. */
export interface ApiContext {
  config: ResolvedConfig;
  /** The pipeline's own keys (`{products}:...`): the whole pipeline when unsharded; with shards, where the one log stream and the labels are. */
  keys: Keys;
  /** Every shard's keys and a record's shard (`shards.keysFor(id)`); one shard, `keys` itself, when unsharded (lib/redis/shard.ts). */
  shards: Shards;
  /** The process's one shared, auto-pipelined command connection (`api:cmd` in CLIENT LIST). */
  redis: Redis;
  /** The process's connections: `cmd` and the blocking completions readers (`api:done`; sharded, `api:done:<N>` per shard). */
  connections: Connections;
  /** Completion events from `{p}:done` (every shard's `{p:N}:done`), one blocking connection per stream, fanned out to every waiter. */
  completions: Completions;
  /** Redis's maxmemory-policy, read again every `dataLossCheckMs`: submissions are refused while it is `allkeys-*` (lib/api/eviction-guard.ts). */
  eviction: EvictionGuard;
  limits: ApiLimits;
  /** The waits and streams open, per caller and in all (`api.maxWaitsPerCaller`, `api.maxWaits`): a route that holds its connection open takes a slot with `waits.guard()` as its preHandler. */
  waits: WaitSlots;
  logger: Logger;
  /**
   * The request metrics (`pipeline_api_requests_total`, `pipeline_api_request_seconds`,
   * `pipeline_api_records_refused_total`) this process counted, labelled `pipeline`: the console
   * serves them on `GET /metrics` beside its sampled series.
   */
  requestMetrics: Registry;
  /** What the server counts (StatsD as `config.metrics` says, and the request series of GET /metrics): a purge's dead letters too. */
  metrics: Metrics;
  /** A stored product as `pipeline export` writes it (null: not stored). */
  readProduct: ProductReader;
  /** Several stored products in one read (one SQL query with the Postgres sink): the console's recent list. */
  readProducts: ProductsReader;
}

let requestCount = 0;
const REQUEST_ID = /^[\w.:-]{1,64}$/;
/** The request's id: the client's `X-Request-Id` when it is 1-64 characters of [A-Za-z0-9_.:-], else `req-<n>`. */
function requestId(req: { headers: Record<string, string | string[] | undefined> }): string {
  const h = req.headers['x-request-id'];
  return typeof h === 'string' && REQUEST_ID.test(h) ? h : `req-${(++requestCount).toString(36)}`;
}

/** On every answer: the console's page loads only its own scripts and styles, is never framed, and nothing is sniffed. */
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

/** Reads a stored product as `pipeline export` writes it (null: not stored): lib/ does not import the sinks, so the caller gives it (scripts/commands/serve.ts). */
export type ProductReader = (key: string) => Promise<Record<string, unknown> | null>;

/** Reads several stored products at once, as ProductReader does one: the map holds those stored, by key. */
export type ProductsReader = (keys: readonly string[]) => Promise<Map<string, Record<string, unknown>>>;

/** A ProductsReader from a ProductReader: each key read, all at once (a reader that has no batch read of its own). */
export const eachProduct =
  (read: ProductReader): ProductsReader =>
  async (keys) => {
    const found = await Promise.all(keys.map(read));
    return new Map(keys.flatMap((k, i) => (found[i] ? [[k, found[i]] as const] : [])));
  };

declare module 'fastify' {
  interface FastifyInstance {
    /** The pipeline this server fronts: config, keys, the command connection, completions. */
    pipeline: ApiContext;
  }
}

/** A plugin to register on the server, with its options (how the console plugs in). */
export interface PluginEntry {
  // Any plugin's own options type: a plugin typed for its options is not assignable to one typed for unknown ones.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  plugin: FastifyPluginAsync<any> | FastifyPluginCallback<any>;
  opts?: Record<string, unknown>;
}

export interface ServerOptions {
  config: ResolvedConfig;
  /** Bearer tokens with roles. @defaultValue parsed from env `API_TOKENS` (lib/api/auth.ts parseTokens) */
  tokens?: ApiToken[];
  /**
   * The address the caller will listen on: checked here, so a server without tokens can only
   * be reachable from this machine (a non-loopback host without tokens is a ConfigError).
   * @defaultValue "127.0.0.1"
   */
  host?: string;
  /** Redis URL. @defaultValue config.redis.url */
  redisUrl?: string;
  /** Timeouts, caps and sizes over the config's `api` section (lib/config/api-limits.ts; every one documented in docs/configuration.md). @defaultValue config.api */
  limits?: Partial<ApiLimits>;
  /** Plugins registered after the API's routes, in order, each as `app.register(plugin, opts)`. */
  plugins?: PluginEntry[];
  /**
   * The stored-product reader for the store stage's sink, made from the server's context (its
   * command connection): `read` one product, `readMany` several in one round (@defaultValue of
   * readMany: `read` for each key). @defaultValue none: stored products answer `product: null`
   */
  productReader?: (ctx: Omit<ApiContext, 'readProduct' | 'readProducts'>) => { read: ProductReader; readMany?: ProductsReader; close?: () => Promise<void> };
  /** @defaultValue a JSON logger with `component: "api"` */
  logger?: Logger;
  /** Where the request metrics go (`api.requests`, `api.request_ms`, `api.records_refused`), beside `requestMetrics` (GET /metrics), which counts them whatever this is. @defaultValue StatsD as `config.metrics` says, tagged `pipeline` */
  metrics?: Metrics;
}

/**
 * The HTTP API (`pipeline serve`): a Fastify instance with the auth hook, the `/v1` routes,
 * `/healthz`, `/readyz` and `/openapi.json` registered, not yet listening. The caller listens
 * (`await app.listen({ host, port })`) and closes (`await app.close()`: stops accepting, answers
 * new requests 503, ends SSE streams and connections with no request in flight, waits for in-flight
 * requests at most `drainTimeoutMs` (lib/api/connection-drain.ts), then closes the Redis connections).
 *
 * **Plugins (the console):** pass them as `options.plugins`, or register them on the returned
 * instance before `listen`: `app.register(consolePlugin, { prefix: '/console' })`. A plugin sees
 * `app.pipeline` (ApiContext: config, keys, command connection, completions) and guards its
 * routes with `requireRole('admin')` from lib/api/auth.ts (`request.principal` is already set by
 * the server's onRequest hook). Its schemas appear in `/openapi.json` like the API's own.
 *
 * A data-loss watch (lib/api/server-data-loss-watch.ts) reads each shard's marker `{p}:epoch` every
 * `dataLossCheckMs`, on the command connection, so a Redis that lost the pipeline's data is said
 * (`redis.data_lost`, the record `/readyz` shows) with no worker running. Redis's
 * `maxmemory-policy` is checked as the workers do (lib/api/eviction-guard.ts): `allkeys-*` at build
 * is a config error (EvictingPolicyError), set at run time it has records refused with a 503.
 *
 * Connections: 1 + shards per server process, whatever the number of clients and waiters:
 * `api:cmd` (commands, auto-pipelined) and one blocking XREAD per completion stream: `api:done` on
 * `{p}:done` (unsharded: two in all), or `api:done:<N>` on each shard's `{p:N}:done` (a Redis
 * Cluster refuses one XREAD over several slots).
 */
export async function buildServer(options: ServerOptions): Promise<FastifyInstance> {
  const { config } = options;
  const tokens = options.tokens ?? parseTokens(process.env.API_TOKENS);
  const host = options.host ?? '127.0.0.1';
  const logger = options.logger ?? createLogger({ component: 'api' });
  if (tokens.length === 0) {
    if (!isLoopback(host))
      throw new ConfigError('API_TOKENS', `no API tokens configured: refusing to listen on ${host}; set API_TOKENS (role:token,...) or listen on 127.0.0.1`);
    logger.warn('api.no_tokens', {
      note: 'NO API TOKENS CONFIGURED: every caller has every role; listening on loopback only. Set API_TOKENS="submit:<token>,read:<token>,admin:<token>" before exposing this server.',
      host,
    });
  }
  // The config's `api` section, then the caller's own (tests shrink them).
  const limits: ApiLimits = { ...API_DEFAULTS, ...config.api, ...options.limits };
  // Commands time out: a Redis that stops answering (stalled, not down) had held every request until it answered again.
  const connections = new Connections({ url: options.redisUrl ?? config.redis.url, name: 'api', logger, commandTimeoutMs: limits.redisCommandTimeoutMs });
  const redis = connections.command();
  // A Redis that evicts any key (allkeys-*) is refused here, as by the workers and `produce`; watched after.
  const eviction = await guardEviction({ redis, logger, intervalMs: Math.min(...config.stages.map((s) => s.dataLossCheckMs)) }).catch(async (err: unknown) => {
    await connections.close();
    throw err;
  });
  const keys = new Keys(config.pipeline);
  // Sharded: a record's entries, status and completion are on its shard (`shards.keysFor(id)`); one reader per shard's `{p:N}:done`.
  const shards = config.shards > 1 ? configShards(config) : Shards.of(keys);
  const sources =
    shards.count > 1
      ? shards.all.map((k, i) => ({ reader: connections.reader(`done:${i}`), stream: k.done }))
      : [{ reader: connections.reader('done'), stream: keys.done }];
  const completions = new Completions(sources, logger, limits);
  const sent = options.metrics ?? createMetrics(config.metrics, { pipeline: config.pipeline }, logger);
  const requestMetrics = new Registry();
  requestMetrics.setDefaultLabels({ pipeline: config.pipeline });
  // Each request is counted once, into StatsD and into this process's own series for GET /metrics.
  const metrics = teeMetrics(sent, prometheusMetrics(requestMetrics, API_METRICS, config.metrics.prefix));

  // What Node's HTTP parser answers itself (a request timeout, bad HTTP): in the API's shape, logged and counted.
  const clientErrors = new ClientErrors({
    logger,
    metrics,
    requestTimeoutMs: limits.requestTimeoutMs,
    headers: SECURITY_HEADERS,
    newId: () => requestId({ headers: {} }),
  });
  const app = Fastify({
    clientErrorHandler: clientErrors.handle,
    loggerInstance: fastifyLogger(logger),
    // One line per request from the onResponse hook below, with the request id as `requestId`.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' }),
    // A client's X-Request-Id is kept when it is a short token; a longer or odd one (8 kB, newlines)
    // would be written as is into every log line and the console's audit trail: the server's own id then.
    requestIdHeader: false,
    genReqId: requestId,
    bodyLimit: limits.bodyLimitBytes,
    // A client that sends its request slowly, or never, is cut off (Fastify's default 0 waited for ever, before authentication too).
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // Node checks those timeouts every 30 s by default (a client could hold a socket twice as long),
    // and the headers' own timeout (60 s) must not be longer than the whole request's.
    http: {
      requestTimeout: limits.requestTimeoutMs,
      headersTimeout: Math.min(60_000, limits.requestTimeoutMs),
      connectionsCheckingInterval: Math.max(50, Math.min(5_000, Math.floor(limits.requestTimeoutMs / 4))),
    },
    // A product id is up to 256 characters; URL-encoded, up to 12 each (4 UTF-8 bytes as %XX).
    // Fastify's default of 100 answered 414 for ids the API had accepted.
    routerOptions: { maxParamLength: 256 * 12 },
    // A path Fastify's router refuses (a bad %-escape, a parameter past maxParamLength) is answered in
    // the API's shape, with its headers and log line: Fastify's own answer had none of them and
    // echoed the whole path (4 kB) back.
    // Fastify runs no hook for it: the headers and the request's log line (its path cut short) are set here.
    frameworkErrors: (err, request, reply) => {
      const status = err.statusCode === 414 ? 414 : 400;
      request.log.info({ method: request.method, url: echo(request.url), status, ms: 0 }, 'http.request');
      countRequest(metrics, { route: UNMATCHED, method: request.method, status, ms: 0 });
      void (reply as FastifyReply)
        .code(status)
        .headers(SECURITY_HEADERS)
        .header('x-request-id', request.id)
        .send(badPath(err.code, 256 * 12, request.url));
    },
    // Closing: the onRequest hook below answers 503 with Retry-After and the request id (Fastify's own 503 has neither).
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    ajv: { customOptions: { coerceTypes: 'array', removeAdditional: false, allErrors: false } },
    // A body is validated without coercion, the querystring and path with it (lib/api/validators.ts).
    schemaController: { compilersFactory: { buildValidator: buildValidator() } },
  });
  // Response schemas document (in /openapi.json); they never filter what is sent.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  // Per caller: its token's name; without tokens every caller is `open`, so its remote address.
  const waits = new WaitSlots(limits, (request) => (tokens.length > 0 ? (request.principal?.name ?? 'unknown') : request.ip));
  const base = { config, keys, shards, redis, connections, completions, eviction, limits, waits, logger, requestMetrics, metrics };
  const reader: ReturnType<NonNullable<ServerOptions['productReader']>> = options.productReader?.(base) ?? { read: async () => null };
  // An outage of the sink answers 503 "the data store is unavailable", its error (an internal address) in the log only.
  const read: ProductReader = (key) => fromStore(() => reader.read(key));
  const readMany = reader.readMany;
  const readProducts: ProductsReader = readMany ? (keys) => fromStore(() => readMany(keys)) : eachProduct(read);
  app.decorate('pipeline', { ...base, readProduct: read, readProducts } satisfies ApiContext);

  app.server.maxConnections = limits.maxConnections;
  // Closing ends the connections with nothing in flight, and waits for the others at most `drainTimeoutMs`.
  new ConnectionDrain(app.server, limits.drainTimeoutMs, logger);
  const authenticate = authenticator(tokens);
  let closing = false;
  // First: the answers of the hooks below (closing, auth) are counted too.
  registerRequestMetrics(app, metrics, (request) => clientErrors.cutOff(request));
  app.addHook('onRequest', async (request, reply) => {
    // On the raw response, so an answer a route writes itself (the SSE streams, hijacked) carries them too.
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) reply.raw.setHeader(name, value);
    clientErrors.track(request, (listener) => reply.raw.once('close', listener));
    if (closing) {
      reply.header('x-request-id', request.id).header('connection', 'close');
      throw new Unavailable('the server is shutting down');
    }
    reply.header('x-request-id', request.id);
    const refused = tokens.length === 0 ? openModeRefusal(request.headers) : undefined;
    if (refused) return reply.code(403).send({ error: 'forbidden', message: refused });
    request.principal = authenticate(request);
  });
  app.addHook('onSend', async (_request, reply) => {
    // A response finished while closing ends its connection: a keep-alive connection busy when close
    // began was not idle then, and held the process open for Node's keep-alive timeout (72 s).
    // A refusal ends it too: its body, maybe large and never to be read, does not hold the socket.
    if (closing || reply.statusCode === 401 || reply.statusCode === 403 || reply.statusCode === 413) reply.header('connection', 'close');
  });
  // One line per request, with the request id (responses to errors log the error too).
  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      { method: request.method, url: echo(request.url), status: reply.statusCode, ms: Math.round(reply.elapsedTime), principal: request.principal?.name },
      'http.request',
    );
  });

  const routes: RouteInfo[] = [];
  const methods = new RouteMethods();
  app.addHook('onRoute', (r) => {
    methods.add(r.method, r.url);
    if ((r.schema as { hide?: boolean } | undefined)?.hide) return;
    // A route with an onRequest guard (requireRole) needs a token; the others (health) do not.
    routes.push({ method: r.method, url: r.url, schema: r.schema, guarded: r.onRequest !== undefined });
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => openapiDocument(routes));

  // One error handler for every route, the plugins' (console) included: they inherit it from here.
  app.setErrorHandler(errorHandler(limits.retryAfterSeconds, (request) => clientErrors.cutOff(request)));
  // An unknown route answers in the API's error shape (Fastify's own 404 has `statusCode`, not `error`).
  // A path the server has under other methods: 405 naming them in Allow (OPTIONS: 204 with Allow), not a 404 "no route".
  app.setNotFoundHandler((request, reply) => {
    const path = echo(request.url.split('?')[0]!);
    const allowed = methods.allowed(path);
    if (allowed.length === 0) return reply.code(404).send({ error: 'not_found', message: `no route ${request.method} ${path}` });
    const allow = [...allowed, 'OPTIONS'].join(', ');
    if (request.method === 'OPTIONS') return reply.code(204).header('allow', allow).send();
    return reply
      .code(405)
      .header('allow', allow)
      .send({ error: 'method_not_allowed', message: `${path} does not take ${request.method}: it takes ${allowed.join(', ')}` });
  });
  // At the root, so every route reads bodies alike, the plugins' (console) too: registered inside the
  // routes' plugin they had not reached the console, which read a text/plain body and took a body not UTF-8.
  registerBodyParsers(app);
  await app.register(registerRoutes);
  for (const p of options.plugins ?? []) await app.register(p.plugin, p.opts ?? {});

  completions.start();
  // Redis losing the pipeline's data is seen with no worker running too (lib/api/server-data-loss-watch.ts).
  const dataLoss = watchDataLoss({ config, shards: shards.all, redis, logger });
  // Closing: waiting requests are answered now (202 with their current status) and SSE streams
  // ended, so the server's close does not wait out their deadlines; Redis closes last.
  app.addHook('preClose', async () => {
    closing = true;
    await Promise.all([completions.stop(), dataLoss.stop(limits.redisCommandTimeoutMs), eviction.stop(limits.redisCommandTimeoutMs)]);
  });
  app.addHook('onClose', async () => {
    await reader.close?.();
    if (!options.metrics) await sent.close();
    await connections.close();
  });
  return app;
}
