import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Metrics } from '../observe/metrics.js';
import { countRecords } from './submit.js';

/** The routes that take records: what their answers refuse is counted by reason (`api.records_refused`). */
const SUBMISSIONS = new Set(['POST /v1/products', 'POST /v1/enrich']);

/**
 * The `route` tag of a request no route took (a 404, a path the router refuses): never its path,
 * which would make a series per URL a client sends.
 */
export const UNMATCHED = 'unmatched';

/** The route pattern a request matched (`/v1/products/:id`, never the id), or UNMATCHED. */
export const routeOf = (request: FastifyRequest): string => request.routeOptions.url ?? UNMATCHED;

/**
 * One answered request: `api.requests` by route, method and status (`aborted`: the client left
 * before any answer was sent; 408 when the server's request timeout cut it off, 400 when its body was not HTTP: lib/api/client-errors.ts); `api.request_ms` by route and method.
 */
export function countRequest(metrics: Metrics, r: { route: string; method: string; status: number | 'aborted'; ms: number }): void {
  metrics.increment('api.requests', 1, { route: r.route, method: r.method, status: String(r.status) });
  metrics.timing('api.request_ms', r.ms, { route: r.route, method: r.method });
}

/** An answer as the routes send it: an error (`error` code) or a submission's accepted and rejected records. */
interface Answer {
  error?: unknown;
  rejected?: unknown;
}

/**
 * The records an answer to a submission refuses, by reason: each record a body lists as rejected
 * under its own reason (`invalid_record`, `invalid_json`, `invalid_utf8`, `not_taken`, `unknown`,
 * in a 400 or a 202 taken in part); a whole request refused (an answer with an `error` code:
 * `backlog`, `redis_full`, `redis_evicts`, `too_large`, `unauthorized`, ...) all the records of its
 * body under that code, 1 when the body was not read (refused before it: a token, its size, its type).
 */
export function refusedRecords(body: unknown, status: number, answer: Answer): Map<string, number> {
  const out = new Map<string, number>();
  if (Array.isArray(answer.rejected)) {
    for (const r of answer.rejected as { reason?: unknown }[]) {
      const reason = typeof r.reason === 'string' ? r.reason : 'invalid_record';
      out.set(reason, (out.get(reason) ?? 0) + 1);
    }
  } else if (status >= 400 && typeof answer.error === 'string') out.set(answer.error, countRecords(body, Number.MAX_SAFE_INTEGER));
  return out;
}

/**
 * Request metrics for every route of `app` (the API's and its plugins', the console's): when each
 * response closes, `api.requests` and `api.request_ms` tagged with the route's pattern; before an
 * answer to a submission is serialized, `api.records_refused` with the reason its body gives. Tags
 * are route patterns, methods, status and reason codes only, so their series stay bounded.
 * Register it before any onRequest hook that may answer (auth, closing), so their answers count.
 */
export function registerRequestMetrics(
  app: FastifyInstance,
  metrics: Metrics,
  cutOff: (request: FastifyRequest) => number | undefined = () => undefined,
): void {
  // On the response's close, not in onResponse: Fastify runs no onResponse for a hijacked reply (an SSE stream).
  app.addHook('onRequest', async (request, reply) => {
    const res = reply.raw;
    res.once('close', () =>
      countRequest(metrics, {
        route: routeOf(request),
        method: request.method,
        status: res.headersSent ? res.statusCode : (cutOff(request) ?? 'aborted'),
        ms: reply.elapsedTime,
      }),
    );
  });
  app.addHook('preSerialization', async (request, reply, payload) => {
    const route = routeOf(request);
    if (!SUBMISSIONS.has(`${request.method} ${route}`) || payload === null || typeof payload !== 'object') return payload;
    for (const [reason, n] of refusedRecords(request.body, reply.statusCode, payload as Answer)) metrics.increment('api.records_refused', n, { route, reason });
    return payload;
  });
}
