import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { within } from '../core/io-deadline.js';
import { describe, inputStage, retryAfterFor, type Pressure } from '../producer/backpressure.js';
import { ShardedBackpressure } from '../producer/backpressure-shards.js';
import { ReplicaWait } from '../redis/replicas.js';
import { requireRole } from './auth.js';
import { assertRedisReady, EvictingRedis, refuseBadProductId, tooManyRecords } from './errors.js';
import type { CompletionEvent } from '../stream/completions.js';
import { registerEvents } from './events.js';
import { registerStageControl } from './stage-control.js';
import { registerStagePurge } from './stage-purge-route.js';
import { registerRevoke } from './revoke-route.js';
import { registerDataLoss } from './data-loss-routes.js';
import { lookupStatus, type IdStatus } from './status.js';
import { FINAL_STATUSES } from '../stream/done.js';
import { countRecords, NdjsonBody, parseRecords } from './submit.js';
import { NO_QUERY } from './strict-schemas.js';
import { emptyBody } from './body-parsers.js';
import { submitAcrossShards } from './submit-shards.js';
import { dataLossFields } from '../ops/data-loss.js';

/** A stored product as the server's product reader gives it. */
type Stored = Record<string, unknown> | null;

const ERROR = { type: 'object', properties: { error: { type: 'string' }, message: { type: 'string' } } } as const;
const ACCEPTED = {
  type: 'object',
  properties: {
    accepted: { type: 'array', items: { type: 'string' } },
    rejected: { type: 'array', items: { type: 'object', properties: { index: { type: 'integer' }, reason: { type: 'string' }, error: { type: 'string' } } } },
  },
} as const;
const STATUS = {
  type: 'object',
  additionalProperties: true,
  properties: {
    id: { type: 'string' },
    status: { type: 'string', enum: ['queued', 'processing', 'stored', 'review', 'dead_lettered', 'revoked'] },
    stage: { type: ['string', 'null'] },
    reason: { type: 'string' },
    by: { type: 'string', description: 'revoked: who revoked it' },
    product: { type: 'object', additionalProperties: true },
  },
} as const;

/** The `/v1` routes, `/healthz` and `/readyz` (registered by buildServer). */
export async function registerRoutes(app: FastifyInstance): Promise<void> {
  const { config, shards, redis, completions, eviction, limits, waits, readProduct } = app.pipeline;
  const first = inputStage(config);
  // The input stage and every stage after it, each against its own maxLag (lib/producer/backpressure.ts); sharded, per
  // shard (maxLag applies to each shard), and a request is checked on the shards its records go to.
  const backpressure = ShardedBackpressure.forInput(redis, config, shards.all, limits.backpressureCacheMs, limits.backpressureStagesMs);
  const submitOptions = {
    statusTtlMs: config.limits.statusTtlMs,
    dedupMs: limits.submitDedupMs,
    retryMs: limits.submitRetryMs,
    replicas: new ReplicaWait(limits.submitWaitReplicas, { checkMs: limits.submitReplicaCheckMs, dropAfterMs: limits.submitReplicaDropMs }),
    waitTimeoutMs: limits.submitWaitTimeoutMs,
  };

  const submitDeps = { redis, shards, input: config.input, backpressure, options: submitOptions, readingWaitMs: limits.shardReadingWaitMs };
  /** 429 while a stage a new record crosses is over its maxLag (on the records' shards) or Redis is full. */
  const refuse = async (request: FastifyRequest, reply: FastifyReply, p: Pressure): Promise<FastifyReply> => {
    // A backlog: its excess over the rate it fell lately, bounded (a constant 1 s had every polite client back each second).
    const retryAfter = retryAfterFor(p, limits.retryAfterSeconds, limits.retryAfterMaxSeconds);
    request.log.info(
      { reason: p.reason, stage: p.stage, lag: p.lag, maxLag: p.maxLag, drainPerSec: p.drainPerSec, retryAfter, shard: p.shard?.tag },
      'api.backpressure',
    );
    return reply
      .header('retry-after', String(retryAfter))
      .code(429)
      .send({
        error: p.reason === 'oom' ? 'redis_full' : 'backlog',
        message: describe(p),
        stage: p.stage,
        lag: p.lag,
        maxLag: p.maxLag,
        ...(p.shard ? { shard: p.shard.tag } : {}),
      });
  };
  /** An id's status, and the product when the fallback read it (no status: expired, or stored before statuses): kept for the answer, not read again. */
  const statusOf = async (id: string): Promise<{ s: IdStatus; product?: Stored }> => {
    let product: Stored | undefined;
    const s = await lookupStatus(redis, shards.keysFor(id), first, id, async () => (product = await readProduct(id)) !== null);
    return { s, product };
  };
  /** The answer for an id: 404 unknown, the stored product with status stored (`product`: already read). */
  const answer = async (id: string, s: IdStatus, reply: FastifyReply, product?: Stored) => {
    if (s.status === 'unknown')
      return reply.code(404).send({
        error: 'not_found',
        // `pipeline produce` writes no status (its batches stay one script call): its records are unknown here until they end.
        message: `no status for product ${JSON.stringify(id)}: never submitted, not at an end yet if it came by \`pipeline produce\` (which writes none before), or its status expired (limits.statusTtlMs)`,
      });
    if (s.status === 'stored') return reply.send({ id, ...s, product: product ?? (await readProduct(id)) });
    return reply.send({ id, ...s });
  };
  const fromEvent = (e: CompletionEvent): IdStatus =>
    e.status === 'dead_lettered'
      ? { status: e.status, stage: e.stage, reason: e.reason ?? 'unknown', ...(e.error ? { error: e.error } : {}), at: e.at }
      : e.status === 'review'
        ? { status: e.status, stage: e.stage, reason: e.reason ?? 'review', at: e.at }
        : e.status === 'revoked'
          ? { status: e.status, stage: e.stage, by: e.by ?? 'unknown', ...(e.reason ? { reason: e.reason } : {}), at: e.at }
          : { status: e.status, stage: e.stage, at: e.at };

  app.get(
    '/healthz',
    { schema: { summary: 'liveness: the process answers', response: { 200: { type: 'object', properties: { ok: { type: 'boolean' } } } } } },
    async () => ({ ok: true }),
  );
  app.get(
    '/readyz',
    {
      schema: {
        summary:
          "readiness: Redis reachable, the completions readers following {p}:done (every shard's) and records taken (takesRecords false, with reason, while Redis's maxmemory-policy is allkeys-*); a data loss the workers recorded as dataLost, degraded",
        response: { 200: { type: 'object', additionalProperties: true }, 503: { type: 'object', additionalProperties: true } },
      },
    },
    async (_req, reply) => {
      // Connected is not answering: a stalled Redis (a fork on a big dataset, a paused VM) keeps the
      // socket up. PING, bounded by redisCommandTimeoutMs.
      const answers =
        redis.status === 'ready' &&
        (await redis.ping().then(
          () => true,
          () => false,
        ));
      // Redis evicting any key (allkeys-*): records are refused, so not ready, and why (lib/api/eviction-guard.ts).
      const evicting = eviction.evicting();
      const checks = { redis: answers, completions: completions.following, takesRecords: evicting === undefined };
      // Redis lost data under the workers (lib/ops/data-loss.ts): said, without failing readiness (the API serves what comes next).
      const degraded = answers ? await dataLossFields(redis, config) : {};
      const why = evicting ? { reason: new EvictingRedis(evicting).message } : {};
      const ready = checks.redis && checks.completions && checks.takesRecords;
      return reply.code(ready ? 200 : 503).send({ ready, ...checks, ...degraded, ...why });
    },
  );

  app.post(
    '/v1/products',
    {
      onRequest: requireRole('submit'),
      schema: {
        summary: 'submit records (one, an array, or NDJSON); 202 with accepted ids and rejected records',
        querystring: NO_QUERY,
        response: { 202: ACCEPTED, 400: ACCEPTED, 413: ERROR, 429: ERROR, 503: ERROR },
      },
    },
    async (request, reply) => {
      // No body at all (no Content-Type): said so, as an empty JSON body is (it had been "record is not a JSON object").
      if (request.body === undefined) throw emptyBody();
      // Counted before each is parsed and checked: 10 MiB of one-character lines had taken a minute and GBs to refuse.
      const count = countRecords(request.body, limits.maxRecordsPerRequest);
      if (count > limits.maxRecordsPerRequest) return reply.code(413).send({ error: 'too_large', message: tooManyRecords(limits.maxRecordsPerRequest) });
      const { records, indexes, rejected } = parseRecords(request.body, config.limits.maxRecordBytes);
      if (records.length === 0)
        return reply
          .code(400)
          .send({ accepted: [], rejected: rejected.length ? rejected : [{ index: 0, reason: 'invalid_record', error: 'no records in the body' }] });
      // After validation: a request with nothing valid is a 400 whatever the backlog, not a 429 to retry as it is.
      const ids = records.map((r) => r.id);
      assertRedisReady(redis);
      eviction.assertTakesRecords();
      const done = await submitAcrossShards(submitDeps, records);
      if ('refused' in done) return refuse(request, reply, done.refused);
      const { taken, notTaken } = done;
      const left = new Set(notTaken.flatMap((n) => n.indexes));
      if (notTaken.length > 0) {
        // Part of the request is in: say which records are not (by their place in the body), never a bare refusal.
        for (const n of notTaken) for (const i of n.indexes) rejected.push({ index: indexes[i]!, reason: n.reason, error: n.error });
        rejected.sort((a, b) => a.index - b.index);
        request.log.warn({ accepted: taken, notTaken: records.length - taken, reason: notTaken.map((n) => n.reason).join(',') }, 'api.submitted_in_part');
      } else request.log.info({ accepted: records.length, rejected: rejected.length }, 'api.submitted');
      return reply.code(202).send({ accepted: ids.filter((_, i) => !left.has(i)), rejected });
    },
  );

  app.get<{ Params: { id: string }; Querystring: { wait_ms?: number } }>(
    '/v1/products/:id',
    {
      onRequest: requireRole('read'),
      preValidation: refuseBadProductId,
      // A long-poll holds its connection: a slot of the caller's maxWaitsPerCaller (a plain status read takes none).
      preHandler: waits.guard((request) => Math.min((request.query as { wait_ms?: number }).wait_ms ?? 0, limits.maxWaitMs) > 0),
      schema: {
        summary: 'status of one id (404: never seen); ?wait_ms long-polls until it is final',
        params: { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 256 } }, required: ['id'] },
        querystring: {
          type: 'object',
          properties: { wait_ms: { type: 'integer', minimum: 0, description: `capped at maxWaitMs (${limits.maxWaitMs})` } },
          additionalProperties: false,
        },
        response: { 200: STATUS, 400: ERROR, 404: ERROR, 429: ERROR, 503: ERROR },
      },
    },
    async (request, reply) => {
      assertRedisReady(redis);
      const { id } = request.params;
      const waitMs = Math.min(request.query.wait_ms ?? 0, limits.maxWaitMs);
      const w = waitMs > 0 ? completions.wait(id, waitMs) : undefined; // before the lookup: no event slips between
      const { s, product } = await statusOf(id);
      if (!w || s.status === 'unknown' || FINAL_STATUSES.has(s.status)) {
        w?.cancel();
        return answer(id, s, reply, product);
      }
      const e = await w.promise;
      if (e) return answer(id, fromEvent(e), reply);
      const again = await statusOf(id);
      return answer(id, again.s, reply, again.product);
    },
  );

  app.post<{ Querystring: { timeout_ms?: number } }>(
    '/v1/enrich',
    {
      onRequest: requireRole('submit'),
      preHandler: waits.guard(),
      schema: {
        summary: 'submit one record and wait for the result: 200 with the stored product (or its final status), 202 when timeout_ms passes first',
        querystring: {
          type: 'object',
          properties: { timeout_ms: { type: 'integer', minimum: 1, description: `default ${limits.enrichTimeoutMs}, capped at ${limits.maxWaitMs}` } },
          additionalProperties: false,
        },
        response: { 200: STATUS, 202: STATUS, 400: ACCEPTED, 429: ERROR, 503: ERROR },
      },
    },
    async (request, reply) => {
      if (request.body === undefined) throw emptyBody();
      if (Array.isArray(request.body) || request.body instanceof NdjsonBody)
        return reply
          .code(400)
          .send({ accepted: [], rejected: [{ index: 0, reason: 'invalid_record', error: 'enrich takes one JSON object; use POST /v1/products for several' }] });
      const { records, rejected } = parseRecords(request.body, config.limits.maxRecordBytes);
      const record = records[0];
      if (!record) return reply.code(400).send({ accepted: [], rejected });
      // After validation, as for /v1/products: a bad body is a 400 whatever the backlog, not a 429 to retry as it is.
      assertRedisReady(redis);
      eviction.assertTakesRecords();
      const timeout = Math.min(request.query.timeout_ms ?? limits.enrichTimeoutMs, limits.maxWaitMs);
      // From the request's arrival; the last part is kept for the status lookup if no completion comes.
      const deadline = Date.now() - reply.elapsedTime + timeout;
      const reserve = Math.min(limits.enrichLookupMs, Math.floor(timeout / 2));
      const w = completions.wait(record.id, Math.max(0, deadline - reserve - Date.now())); // before the submit: the completion cannot come first
      // The check and the write: an unreachable shard is checked again within submitRetryMs, not refused at once.
      const done = await submitAcrossShards(submitDeps, [record]).catch((err: unknown) => {
        w.cancel();
        throw err;
      });
      if ('refused' in done) {
        w.cancel();
        return refuse(request, reply, done.refused);
      }
      const e = await w.promise;
      if (e) return answer(record.id, fromEvent(e), reply);
      // The lookup, bounded by the deadline (it had answered 2,341 ms for 2,000 under load); a product
      // found stored is answered 200 with the product (a 202 had said "stored" without it).
      const found = await within(
        deadline - Date.now(),
        statusOf(record.id).then(async ({ s, product }) => ({ s, product: s.status === 'stored' ? (product ?? (await readProduct(record.id))) : undefined })),
      );
      if (!found) return reply.code(202).send({ id: record.id, status: 'processing', stage: null });
      if (found.s.status === 'stored') return reply.send({ id: record.id, ...found.s, product: found.product });
      return reply.code(FINAL_STATUSES.has(found.s.status) ? 200 : 202).send({ id: record.id, ...found.s });
    },
  );

  registerEvents(app, requireRole('read'));
  registerStageControl(app);
  registerStagePurge(app);
  registerRevoke(app);
  registerDataLoss(app);
}
