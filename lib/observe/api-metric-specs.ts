import type { MetricSpec } from './metric-spec.js';

/**
 * What the HTTP API server sends (lib/api/request-metrics.ts), tagged with route patterns
 * (`/v1/products/:id`, never an id; `unmatched` for a request no route took), methods, status and
 * reason codes only, so the series stay bounded.
 */
export const API_METRICS: readonly MetricSpec[] = [
  {
    name: 'api.requests',
    type: 'counter',
    tags: ['route', 'method', 'status'],
    from: 'api',
    help: 'HTTP requests answered, by route pattern (unmatched: a 404 or a path the router refuses), method and status code',
  },
  {
    name: 'api.request_ms',
    type: 'timer',
    tags: ['route', 'method'],
    from: 'api',
    help: 'request to response, by route pattern and method (a long poll or an SSE stream: its whole wait)',
  },
  {
    name: 'api.records_refused',
    type: 'counter',
    tags: ['route', 'reason'],
    from: 'api',
    help: "records a submission (POST /v1/products, /v1/enrich) did not take, by reason: the answer's error code for a request refused whole (backlog, redis_full, redis_evicts, unavailable, outcome_unknown, too_large, unauthorized, ...; all its records, 1 when its body was not read), or each rejected record's own (invalid_record, invalid_json, invalid_utf8, not_taken, unknown)",
  },
];
