import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ServerResponse } from 'node:http';
import { requireRole } from '../api/auth.js';
import { assertRedisReady, refuseBadProductId } from '../api/errors.js';
import { writeOrCut } from '../api/events.js';
import { registerMetricsRoute } from '../api/metrics-route.js';
import { NO_QUERY, queryOf } from '../api/strict-schemas.js';
import { parseGroups } from '../stream/category-groups.js';
import { audit, readAudit } from '../ops/audit.js';
import { registerActions } from './actions.js';
import { pipelineGraph } from './graph.js';
import { CONSOLE_DEFAULTS, type ConsoleOptions } from './options.js';
import { recentProducts, traceProduct } from './products.js';
import { reviewPages } from './review-merge.js';
import { ConsoleSampler } from './sampler.js';
import { loadAssets } from './static.js';
import { workersView } from './workers.js';
import { liveFusedRoutes } from '../ops/fusion-live.js';
import { decodeDeadLetter, getDeadLetter } from '../ops/dlq.js';
import { dlqPage, dlqState, dlqTally, unknownDlqReason, unknownDlqStage } from './dlq-view.js';
import { parseRef, REF_PATTERN } from './shard-ref.js';
import { sharedWhileSame } from './shared-result.js';
import { storedLookup } from './stored.js';
import { storeSink } from '../ops/inspect.js';
import { pipelineTags } from '../ops/pipeline-presence.js';
import { asCluster } from '../redis/url.js';

const read = requireRole('read');

/**
 * The web console, a Fastify plugin for `pipeline serve` (lib/api/server.ts): the page at `/`
 * (files of console/, served from memory), its JSON API under `/console/api`, live samples over
 * Server-Sent Events, and `GET /metrics` (Prometheus, lib/api/metrics-route.ts). Reading needs the `read` role, acting
 * (replay, purge, review decisions) `admin`; every action is audited with the token's name.
 * Uses the server's one command connection (`app.pipeline.redis`): no connection of its own.
 * A sharded pipeline (config `shards` > 1): every view reads every shard (`app.pipeline.shards`),
 * and names each DLQ entry and review item with its shard, which an action on it names too
 * (lib/console/shard-ref.ts); a product is read on its shard. The stats series, the sampler's lease,
 * the audit stream and the log stream are the pipeline's own (`{p}:...`, `app.pipeline.keys`).
 */
export async function consolePlugin(app: FastifyInstance, opts: Partial<ConsoleOptions> = {}): Promise<void> {
  const { config, keys, shards, redis, logger, readProduct, readProducts } = app.pipeline;
  // The config's `console` section (what `pipeline serve` has), each key overridden by the plugin's options.
  const o: ConsoleOptions = { ...CONSOLE_DEFAULTS, ...config.console, ...opts };
  // Stored products come from the store's sink: the Redis hash, or the server's product readers (Postgres; a list in one query).
  const sink = storeSink(config);
  const lookup = storedLookup(sink, (id) => redis.hgetall(shards.keysFor(id).product(id)), readProduct, readProducts);
  const log = logger.child({ component: 'console' });
  const sampler = new ConsoleSampler({
    redis,
    config,
    logger: log,
    sink,
    intervalMs: o.sampleIntervalMs,
    historyMs: o.historyMs,
    latencySampleSize: o.latencySampleSize,
    reviewCountCap: o.maxBulk,
    writeRefusalTimeoutMs: o.writeRefusalTimeoutMs,
    evicting: () => app.pipeline.eviction.evicting(),
  });
  const assets = loadAssets();
  // The tally is read again only when a DLQ changed (its length or newest id): any write to it changes one.
  const dlqSummary = sharedWhileSame(() => dlqTally(redis, shards, o.maxBulk));
  // The stages a `stage` filter or selection may name: the config's, and those of the dead letters counted.
  const stageNames = config.stages.map((s) => s.name);
  const unknownStage = (stage: string | undefined) =>
    unknownDlqStage(stageNames, async () => (await dlqSummary((await dlqState(redis, shards)).version)).groups, stage);
  // Redis unreachable: 503 with Retry-After at once. The command connection would otherwise queue
  // the request's commands until Redis is back, minutes later for a caller long gone (a purge then
  // ran after its caller had given up).
  // (`/console/api/me` reads no Redis: it answers, so a page opened during an outage signs in and waits.)
  // Without a valid token the route's guard answers 401 first (it had been a 503 that told a caller
  // with no token about Redis).
  app.addHook('onRequest', async (req) => {
    if (!req.principal) return;
    if ((req.url.startsWith('/console/api/') && !req.url.startsWith('/console/api/me')) || req.url.startsWith('/metrics')) assertRedisReady(redis);
  });

  const sendAsset = (name: string, reply: FastifyReply) => {
    const a = assets.get(name);
    if (!a) return reply.code(404).send({ error: 'not_found', message: `no console file ${name}` });
    return reply.type(a.type).header('cache-control', 'no-cache').send(a.body);
  };
  // The page itself needs no token: it holds no data, and asks for a token before it reads any.
  app.get('/', { schema: { hide: true } as never }, (_req, reply) => sendAsset('index.html', reply));
  app.get('/console/*', { schema: { hide: true } as never }, (req, reply) => {
    const name = (req.params as { '*': string })['*'];
    // A console API route it does not have is a missing route, as elsewhere (it had said "no console file api/...").
    if (name.startsWith('api/')) return reply.code(404).send({ error: 'not_found', message: `no route GET /console/${name.split('?')[0]}` });
    return sendAsset(name, reply);
  });

  app.get('/console/api/me', { onRequest: read, schema: { querystring: NO_QUERY } }, async (req) => ({
    name: req.principal!.name,
    roles: [...req.principal!.roles],
    canAct: req.principal!.roles.has('admin'),
  }));
  app.get('/console/api/graph', { onRequest: read, schema: { querystring: NO_QUERY } }, async () =>
    pipelineGraph(config, await liveFusedRoutes(redis, config, shards)),
  );
  app.get('/console/api/stats', { onRequest: read, schema: { querystring: NO_QUERY } }, async () => sampler.last ?? (await sampler.sampleOnce()) ?? null);
  // `chart`: each sample as the page's charts draw it (its time, and per stage its lag and out rate): the
  // whole samples of an hour (about 1.5 MB for 8 stages) had been read by every page at each sign-in.
  app.get<{ Querystring: { minutes?: number; chart?: boolean } }>(
    '/console/api/history',
    {
      onRequest: read,
      schema: {
        querystring: queryOf({ minutes: { type: 'number', minimum: 1, maximum: 1440 }, chart: { type: 'boolean' } }),
      },
    },
    async (req) => {
      const samples = await sampler.history(Date.now() - (req.query.minutes ?? o.historyMs / 60_000) * 60_000);
      return {
        samples: req.query.chart ? samples.map((s) => ({ at: s.at, stages: s.stages.map(({ stage, lag, outRate }) => ({ stage, lag, outRate })) })) : samples,
        intervalMs: o.sampleIntervalMs,
        writer: sampler.writer,
      };
    },
  );

  // Live samples: one SSE stream per client, fed from the sampler (no Redis read per client).
  const streams = new Set<ServerResponse>();
  // A stream holds its connection: a slot of the caller's api.maxWaitsPerCaller (lib/api/wait-slots.ts).
  const live = { onRequest: read, preHandler: app.pipeline.waits.guard(), schema: { querystring: NO_QUERY } };
  app.get('/console/api/events', live, (req: FastifyRequest, reply: FastifyReply) => {
    // HEAD (Fastify adds it for every GET): the headers only; a stream opened for HEAD sends nothing and never ends.
    if (req.method === 'HEAD') return reply.header('content-type', 'text/event-stream').header('cache-control', 'no-cache').send();
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-request-id': req.id });
    // A page that does not read (a frozen tab) is cut off rather than buffered without bound; it reconnects.
    const send = (s: unknown, event = 'sample') => writeOrCut(res, `event: ${event}\ndata: ${JSON.stringify(s)}\n\n`, app.pipeline.limits.sseMaxBufferBytes);
    if (sampler.last) send(sampler.last);
    const off = sampler.subscribe(send, (f) => send(f, 'stale'));
    const beat = setInterval(() => res.write(': keep-alive\n\n'), o.sseHeartbeatMs);
    streams.add(res);
    res.on('close', () => {
      off();
      clearInterval(beat);
      streams.delete(res);
    });
  });

  app.get<{ Querystring: { stage?: string; reason?: string; count?: number; after?: string } }>(
    '/console/api/dlq',
    {
      onRequest: read,
      schema: {
        querystring: queryOf({
          stage: { type: 'string' },
          reason: { type: 'string' },
          count: { type: 'integer', minimum: 1, maximum: 1000 },
          after: { type: 'string' },
        }),
      },
    },
    async (req, reply) => {
      const badReason = unknownDlqReason(req.query.reason);
      if (badReason) return reply.code(400).send(badReason);
      const unknown = await unknownStage(req.query.stage);
      if (unknown) return reply.code(404).send(unknown);
      // When the page was read (server ms): the page compares live samples taken after it with its `total`.
      const at = Date.now();
      // A filter reads at most maxBulk entries per call and shard (`complete`: it reached the end; else go on `after` scannedTo).
      const scan = await dlqPage(redis, shards, { ...req.query, count: req.query.count ?? 100 }, o.maxBulk);
      // By stage and reason over the oldest maxBulk dead letters (of each shard; `counted`), for the summary table;
      // `newest` is the entry a bulk action on the group stops at (`until`). One tally serves every call until a DLQ changes.
      const state = await dlqState(redis, shards);
      const { groups, counted } = await dlqSummary(state.version);
      return {
        total: state.length,
        counted,
        groups,
        entries: scan.entries,
        scanned: scan.scanned,
        complete: scan.complete,
        scannedTo: scan.scannedTo,
        at,
      };
    },
  );
  // `?shard=`: the entry's shard (sharded pipelines: two shards' DLQs can hold the same id).
  app.get<{ Params: { id: string }; Querystring: { shard?: number } }>(
    '/console/api/dlq/:id',
    { onRequest: read, schema: { querystring: queryOf({ shard: { type: 'integer', minimum: 0 } }) } },
    async (req, reply) => {
      const at = parseRef(shards, req.params.id, req.query.shard);
      const e = await getDeadLetter(redis, at.keys, at.id);
      if (!e)
        return reply
          .code(404)
          .send({ error: 'not_found', message: `no dead letter ${req.params.id}${req.query.shard === undefined ? '' : ` on shard ${req.query.shard}`}` });
      const { payload: _p, ...entry } = e;
      const d = decodeDeadLetter(e);
      return { entry: { ...entry, ...(shards.count > 1 ? { shard: at.shard } : {}) }, envelope: d.envelope ?? null, decodeError: d.error ?? null };
    },
  );

  // A page of undecided items (oldest first) after `after`, with how many there are in all; listing delivers only what it shows.
  // Items whose entries were trimmed are counted and listed apart (`trimmed`): POST /console/api/review/trimmed/ack clears them.
  app.get<{ Querystring: { after?: string; count?: number } }>(
    '/console/api/review',
    {
      onRequest: read,
      schema: {
        querystring: queryOf({ after: { type: 'string', pattern: REF_PATTERN }, count: { type: 'integer', minimum: 1, maximum: 200 } }),
      },
    },
    async (req) => {
      // When the page was read (server ms): the page compares live samples taken after it with its `total`.
      const at = Date.now();
      const page = await reviewPages(redis, shards, { after: req.query.after, count: req.query.count, cap: o.maxBulk });
      // Items of a product decided since (through another item) were closed instead of listed: audited under the decision's reviewer.
      for (const c of page.closed)
        await audit(
          redis,
          keys,
          log,
          {
            action: 'review_closed',
            by: c.decision?.by ?? '',
            requestId: req.id,
            entry: c.id,
            ...(c.shard === undefined ? {} : { shard: c.shard }),
            key: c.key,
            reason: 'superseded',
            version: c.version,
            decision: c.decision,
          },
          o.auditMaxLen,
        );
      return { ...page, categories: reviewCategories(config), at };
    },
  );
  app.get<{ Params: { id: string } }>(
    '/console/api/products/:id',
    { onRequest: read, preValidation: refuseBadProductId, schema: { querystring: NO_QUERY } },
    async (req) => traceProduct(redis, config, shards.keysFor(req.params.id), req.params.id, undefined, o.maxBulk, lookup),
  );
  app.get<{ Querystring: { category?: string; brand?: string; route?: string; minConfidence?: number; maxConfidence?: number; limit?: number } }>(
    '/console/api/products',
    {
      onRequest: read,
      schema: {
        querystring: queryOf({
          category: { type: 'string' },
          brand: { type: 'string' },
          route: { type: 'string' },
          // A fraction: 90 (a percentage) is refused with a 400 saying so, not matched against nothing.
          minConfidence: { type: 'number', minimum: 0, maximum: 1 },
          maxConfidence: { type: 'number', minimum: 0, maximum: 1 },
          limit: { type: 'integer', minimum: 1, maximum: 500 },
        }),
      },
    },
    async (req) => recentProducts(redis, shards, req.query, lookup),
  );
  app.get('/console/api/workers', { onRequest: read, schema: { querystring: NO_QUERY } }, async () => workersView(redis, config, shards, keys));
  // The pipelines this Redis holds (a bounded SCAN; none listed on a Cluster), asked by the page once it sees
  // nothing of its own pipeline (`nothingYet`): a mistyped PIPELINE is told from a pipeline not started yet.
  app.get('/console/api/pipelines', { onRequest: read, schema: { querystring: NO_QUERY } }, async () => ({
    pipeline: config.pipeline,
    others: asCluster(redis) ? [] : (await pipelineTags(redis)).filter((t) => t !== config.pipeline),
  }));
  app.get('/console/api/audit', { onRequest: read, schema: { querystring: NO_QUERY } }, async () => ({ actions: await readAudit(redis, keys) }));

  registerActions(app, o, log, lookup, unknownStage);

  if (o.metrics) registerMetricsRoute(app, config, sampler);

  sampler.start();
  app.addHook('preClose', async () => {
    for (const res of streams) res.end();
    await sampler.stop();
  });
}

/**
 * The categories a reviewer may pick: every category a routing rule names (`category: { in: [...] }`
 * or `category: x`) and every member of a stage's category groups (`settings.groups`, the category
 * part of a `<category>/<subcategory>` entry). With only the rules, the shipped config (routes by
 * group) offered no category beyond the model's top 3.
 */
export function reviewCategories(config: { routes: Record<string, { when?: unknown }[]>; stages: readonly { settings: Record<string, unknown> }[] }): string[] {
  const out = new Set<string>();
  const walk = (c: unknown) => {
    if (!c || typeof c !== 'object') return;
    for (const [k, v] of Object.entries(c as Record<string, unknown>)) {
      if (k === 'category') {
        if (typeof v === 'string') out.add(v);
        else if (v && typeof v === 'object') {
          const p = v as { eq?: unknown; in?: unknown[] };
          if (typeof p.eq === 'string') out.add(p.eq);
          for (const x of p.in ?? []) if (typeof x === 'string') out.add(x);
        }
      } else if (Array.isArray(v)) v.forEach(walk);
    }
  };
  for (const rules of Object.values(config.routes)) for (const r of rules) walk(r.when);
  for (const stage of config.stages) for (const m of parseGroups('settings.groups', stage.settings.groups).keys()) out.add(m.split('/')[0]!);
  return [...out].sort();
}
