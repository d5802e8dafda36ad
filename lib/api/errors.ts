import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { RevokeInputError } from '../ops/revoke.js';
import { BadIdError, errorMessage } from '../core/errors.js';
import { classify, isTransient, isTransientRedisError } from '../core/failure-policy.js';
import { isInvalidStreamId, isOutOfMemory } from '../core/redis-replies.js';
import { productIdProblem } from '../producer/record.js';
import { typesRead } from './body-types.js';
import { echo } from './echo.js';

/** Redis cannot be reached now: the request is answered 503 with Retry-After. */
export class Unavailable extends Error {
  override name = 'Unavailable';
}

/**
 * A submit call whose connection failed and whose outcome is still unknown when its retries ran
 * out (lib/api/submit.ts): 503 `outcome_unknown`, since its records may or may not be in.
 */
export class OutcomeUnknown extends Unavailable {
  override name = 'OutcomeUnknown';
}

/**
 * A submit call that Redis answered (its records are on the master) but that no replica (or too
 * few) acknowledged within `submitWaitTimeoutMs`, at every try until `submitRetryMs` ran out
 * (lib/api/submit.ts): 503 `outcome_unknown` too, since a failover before a replica has the
 * records would lose them; its message and the request's `api.replicas_unacknowledged` log line
 * say so (it had said "no reply from Redis", which Redis had given).
 */
export class ReplicasUnacknowledged extends OutcomeUnknown {
  override name = 'ReplicasUnacknowledged';
  constructor(
    /** Replicas that acknowledged the last try Redis answered. */
    readonly acked: number,
    /** Replicas the call waits for (`WAIT n`). */
    readonly wanted: number,
    readonly waitTimeoutMs: number,
    readonly retryMs: number,
    /** `api.submitWaitReplicas` as configured ("auto" or a number). */
    readonly setting: string,
  ) {
    const count = `${acked} of ${wanted} replica${wanted === 1 ? '' : 's'} acknowledged within api.submitWaitTimeoutMs (${waitTimeoutMs} ms)`;
    super(
      `the records are on the Redis master but not yet on a replica: ${count}, at each try until api.submitRetryMs (${retryMs} ms) ran out ` +
        `(api.submitWaitReplicas ${setting}); a failover before a replica has them would lose them. ` +
        'Submitting them again is safe: a product id is stored once',
    );
  }
}

/**
 * Redis's `maxmemory-policy` became `allkeys-*` while the server runs (lib/api/eviction-guard.ts):
 * at maxmemory it would evict stream entries and stored products without an error, so records
 * are not taken (503 `redis_evicts`, Retry-After) until the policy is `noeviction` again.
 */
export class EvictingRedis extends Unavailable {
  override name = 'EvictingRedis';
  constructor(readonly policy: string) {
    super(
      `not taken: Redis's maxmemory-policy is ${policy} (set at run time), so at maxmemory it evicts any key, stream entries and stored products among them, without an error; ` +
        'records are refused until an admin runs `CONFIG SET maxmemory-policy noeviction`; submit them again then',
    );
  }
}

/**
 * Redis refused the server's own user a command a route needs (NOPERM): its grants are older than
 * the route (`pipeline acl --apply` from this version grants them). A 500 naming the fix, logged.
 */
export class GrantMissing extends Error {
  override name = 'GrantMissing';
  constructor(what: string, cause: unknown) {
    super(`Redis refused this server's user ${what} (${errorMessage(cause)}): grant it with \`pipeline acl --apply\` of this version`, { cause });
  }
}

/** A body of a type the route does not read (an NDJSON body to a route taking one JSON object): 415 naming the route and what to send. */
export class UnsupportedBody extends Error {
  override name = 'UnsupportedBody';
}

/** An entry id a request names that is no entry (not `<ms>-<seq>`, a part of 2^64 or more, no such shard): 400 naming `field`, the request's field that held it. */
export class BadEntryId extends BadIdError {
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

/**
 * A request that would hold its connection open (an SSE stream, a `wait_ms` long-poll, an enrich)
 * while its caller, or the whole server, already has its cap of them open (lib/api/wait-slots.ts):
 * 429 `too_many_waits` with Retry-After, naming the setting, its connection closed.
 */
export class TooManyWaits extends Error {
  override name = 'TooManyWaits';
  constructor(
    readonly limit: 'maxWaits' | 'maxWaitsPerCaller',
    readonly max: number,
    /** The caller refused: its token's name, or its address without tokens. */
    readonly caller: string,
  ) {
    super(
      limit === 'maxWaitsPerCaller'
        ? `caller ${JSON.stringify(caller)} has api.maxWaitsPerCaller (${max}) waits and streams open (SSE streams, wait_ms, enrich): retry once one of them ends`
        : `the server has api.maxWaits (${max}) waits and streams open (SSE streams, wait_ms, enrich), every caller's: retry later`,
    );
  }
}

/** What a caller is told when the store's sink cannot be read now: its address and error are for the server's log only. */
export const STORE_UNAVAILABLE = 'the data store is unavailable';

/**
 * The store's sink (PostgreSQL, or the Redis hash) could not be read now (an outage): 503 with
 * Retry-After and the generic STORE_UNAVAILABLE; the cause (`connect ECONNREFUSED 127.0.0.1:7810`)
 * only in the server's `api.store_unavailable` line, with the request id.
 */
export class StoreUnavailable extends Unavailable {
  override name = 'StoreUnavailable';
  constructor(cause: unknown) {
    super(STORE_UNAVAILABLE, { cause });
  }
}

/** `call` on the store's sink, an outage of it (isTransient) thrown as StoreUnavailable; other errors as they are. */
export async function fromStore<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw isTransient(err) && !(err instanceof Unavailable) ? new StoreUnavailable(err) : err;
  }
}

/** Throws Unavailable (503 + Retry-After) unless the connection is ready: a command would otherwise queue until Redis is back. */
export function assertRedisReady(redis: { status: string }): void {
  if (redis.status !== 'ready') throw new Unavailable(`Redis is unreachable (connection ${redis.status})`);
}

/** Why records Redis refused whole (`isWriteRefused`: full, or unable to persist) were not taken, for the client: submitting them again later is safe. */
export function notTakenMessage(err: unknown): string {
  const why = classify(err).outage === 'redis_misconf' ? 'Redis cannot persist to disk' : 'Redis is full';
  return `not taken: ${why} (${errorMessage(err)}); submit it again later`;
}

/** 429 for Redis at its memory limit, 503 for Redis unreachable, failing over or unable to persist (MISCONF); undefined for anything else. */
export function overloadCode(err: unknown): 429 | 503 | undefined {
  if (isOutOfMemory(err)) return 429;
  if (err instanceof Unavailable || isTransientRedisError(err)) return 503;
  return undefined;
}

/** The answer to a path the router refuses (Fastify's `frameworkErrors`, `url` the request's): a %-escape that does not decode, a parameter over `maxParamLength`, or any other. */
export function badPath(code: string, maxParamLength: number, url: string): { error: string; message: string } {
  if (code === 'FST_ERR_MAX_PARAM_LENGTH')
    return { error: 'too_long', message: `a path parameter is over ${maxParamLength} characters (a product id is at most 256, URL-encoded)` };
  // The router refuses both alike: a % without its two hex digits, and escapes that are not UTF-8 (%C0%AF, %ED%A0%80).
  if (code === 'FST_ERR_BAD_URL')
    return /%(?![0-9A-Fa-f]{2})/.test(url.split('?')[0]!)
      ? { error: 'bad_request', message: 'the path is not a valid URL: a % not followed by two hex digits (URL-encode an id)' }
      : { error: 'bad_request', message: 'the path is not a valid URL: its %-escapes do not decode as UTF-8 (URL-encode an id as UTF-8)' };
  return { error: 'bad_request', message: `the path cannot be routed (${code})` };
}

/**
 * A `preValidation` hook of the routes taking a product id in their path (`/v1/products/:id`, the
 * console's): an id no product can have (productIdProblem: `..`, blank, not well-formed text) is a
 * 400 naming the parameter and why, as submitting a record with it is, not a 404 "never seen".
 */
export async function refuseBadProductId(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const { id } = request.params as { id: string };
  const problem = productIdProblem(id);
  if (problem) await reply.code(400).send({ error: 'bad_request', message: `path parameter "id": ${problem}: no product has this id` });
}

/** The 413 message of a body over the server's limit (`api.bodyLimitBytes`). */
export function bodyTooLarge(limit: number): string {
  return `the request body is over api.bodyLimitBytes (${limit} bytes): send the records in several requests`;
}

/** The 413 message of a request with more records than `api.maxRecordsPerRequest`. */
export function tooManyRecords(limit: number): string {
  return `more than api.maxRecordsPerRequest (${limit}) records in one request: send them in several`;
}

/** A stream id the client sent that Redis cannot parse (out of range: `99999999999999999999999-0`). */
const badStreamId = isInvalidStreamId;

/**
 * How every route of the server (the API's and its plugins', e.g. the console) answers an error,
 * in one place: Redis full 429 and Redis unreachable 503, both with Retry-After; a client's
 * mistake 4xx naming it (schema validation, a stream id Redis refuses); the rest 500, logged at
 * error level with the request id.
 */
export function errorHandler(retryAfterSeconds: number, cutOff: (request: FastifyRequest) => number | undefined = () => undefined) {
  return (err: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    // The server's request timeout, or a body that is not HTTP, ended it: answered and logged by lib/api/client-errors.ts, not the client's abort.
    const ended = cutOff(request);
    if (ended !== undefined)
      return reply.code(ended).send({ error: ended === 408 ? 'request_timeout' : 'bad_request', message: 'answered by the HTTP parser' });
    // The client went away mid-body (Node's "aborted", ECONNRESET): not Redis. It had been logged as
    // api.redis_unavailable with a 503, a false alarm for whoever alerts on it.
    if (request.raw.aborted || (err.code === 'ECONNRESET' && errorMessage(err) === 'aborted')) {
      request.log.info({ err: errorMessage(err) }, 'api.client_aborted');
      return reply.code(400).send({ error: 'client_aborted', message: 'the client closed the connection before the body was read' });
    }
    if (err instanceof StoreUnavailable) {
      // The sink's own error names its internal address: logged here (with the request id), never sent.
      request.log.warn({ err: err.cause, status: 503 }, 'api.store_unavailable');
      return reply.header('retry-after', String(retryAfterSeconds)).code(503).send({ error: 'unavailable', message: STORE_UNAVAILABLE });
    }
    if (err instanceof TooManyWaits) {
      request.log.warn({ caller: err.caller, limit: `api.${err.limit}`, max: err.max, status: 429 }, 'api.waits_refused');
      // Its connection is closed too: a client opening waits in a loop does not keep the refused connections idle.
      return reply
        .header('retry-after', String(retryAfterSeconds))
        .header('connection', 'close')
        .code(429)
        .send({ error: 'too_many_waits', message: err.message, limit: `api.${err.limit}`, max: err.max });
    }
    const code = overloadCode(err);
    if (err instanceof ReplicasUnacknowledged) {
      const { acked, wanted, waitTimeoutMs, retryMs, setting } = err;
      request.log.warn(
        { err: err.message, status: 503, acked, wanted, submitWaitTimeoutMs: waitTimeoutMs, submitRetryMs: retryMs, submitWaitReplicas: setting },
        'api.replicas_unacknowledged',
      );
    } else if (code) request.log.warn({ err, status: code }, code === 429 ? 'api.redis_full' : 'api.redis_unavailable');
    if (code) {
      return reply
        .header('retry-after', String(retryAfterSeconds))
        .code(code)
        .send({
          error:
            code === 429 ? 'redis_full' : err instanceof OutcomeUnknown ? 'outcome_unknown' : err instanceof EvictingRedis ? 'redis_evicts' : 'unavailable',
          message: errorMessage(err),
        });
    }
    if (err.validation) {
      // ajv's "must NOT have additional properties" does not say which: name it.
      const extra = err.validation.map((v) => (v.params as { additionalProperty?: string }).additionalProperty).filter(Boolean);
      return reply.code(400).send({ error: 'bad_request', message: extra.length ? `${err.message}: ${extra.join(', ')}` : err.message });
    }
    if (err instanceof UnsupportedBody) return reply.code(415).send({ error: 'unsupported_media_type', message: err.message });
    // What this route reads (the console's routes and most of the API's read no NDJSON).
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      const route = `${request.method} ${request.routeOptions.url ?? ''}`;
      return reply.code(415).send({
        error: 'unsupported_media_type',
        message: `${route} does not read ${echo(request.headers['content-type'] ?? 'a body without a Content-Type')}: send ${typesRead(route).join(', ')}`,
      });
    }
    if (err instanceof BadEntryId) return reply.code(400).send({ error: 'bad_request', message: err.message, field: err.field });
    if (err instanceof BadIdError) return reply.code(400).send({ error: 'bad_request', message: err.message });
    if (err instanceof RevokeInputError) return reply.code(400).send({ error: 'bad_request', message: err.message, field: err.field });
    // Fastify's own text ("Request body is too large") named neither the limit nor the setting.
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return reply.code(413).send({ error: 'too_large', message: bodyTooLarge(request.routeOptions.bodyLimit) });
    if (badStreamId(err)) return reply.code(400).send({ error: 'bad_request', message: `${errorMessage(err)} (a stream id is <ms>-<seq>, each below 2^64)` });
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) request.log.error({ err }, 'api.error');
    return reply.code(status).send({ error: status === 413 ? 'too_large' : status === 500 ? 'internal' : 'bad_request', message: err.message });
  };
}
