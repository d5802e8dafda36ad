import { PURGE_BODY } from './stage-purge-route.js';

/** The record schema the API documents: the rules of lib/producer/record.ts validateRecord (which is what checks bodies). */
export const RECORD_SCHEMA = {
  type: 'object',
  required: ['id', 'title'],
  properties: {
    id: { type: ['string', 'integer'], description: 'product id: the idempotency key (1-256 characters)' },
    title: { type: 'string', minLength: 1 },
    description: { type: 'string' },
    brand: { type: 'string' },
    mpn: { type: 'string' },
    gtin: { type: 'string' },
    category: { type: 'string' },
  },
  additionalProperties: true,
  description: 'validated as `pipeline produce` validates (lib/producer/record.ts): at most limits.maxRecordBytes of JSON, 32 levels deep',
} as const;

/** Every error answer: `error` a code (`not_found`, `bad_request`, `backlog`, ...), `message` what and why. */
const ERROR_SCHEMA = { type: 'object', required: ['error', 'message'], properties: { error: { type: 'string' }, message: { type: 'string' } } } as const;

/** Request bodies by route (Fastify does not validate them: lib/api/submit.ts parseRecords does, with the producer's rules). */
const BODIES: Record<string, unknown> = {
  'POST /v1/products': {
    required: true,
    content: {
      'application/json': { schema: { oneOf: [{ $ref: '#/components/schemas/Record' }, { type: 'array', items: { $ref: '#/components/schemas/Record' } }] } },
      'application/x-ndjson': { schema: { type: 'string', description: 'one Record per line' } },
    },
  },
  'POST /v1/enrich': { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/Record' } } } },
  'POST /v1/stages/:stage/pause': {
    required: false,
    content: {
      'application/json': {
        schema: { type: 'object', properties: { reason: { type: 'string', maxLength: 500, description: 'why (status, top, health, the console)' } } },
      },
    },
  },
  'POST /v1/stages/:stage/purge': { required: false, content: { 'application/json': { schema: PURGE_BODY } } },
  'POST /v1/products/:id/revoke': {
    required: false,
    content: {
      'application/json': {
        schema: {
          type: 'object',
          properties: { reason: { type: 'string', maxLength: 500, description: 'why (logged by the stage that acks it, kept in its status)' } },
        },
      },
    },
  },
};

/** A route as the server's onRoute hook saw it; `guarded`: it has an onRequest role check (a token is needed). */
export type RouteInfo = { method: string | string[]; url: string; schema?: unknown; guarded?: boolean };

const ERROR_RESPONSE = { content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
/** What every guarded route may answer before its handler runs (lib/api/auth.ts). */
const AUTH_RESPONSES = {
  401: { description: 'no token, or one the server does not know', ...ERROR_RESPONSE },
  403: { description: "the token's roles do not allow this route", ...ERROR_RESPONSE },
};

/** OpenAPI 3.1 document from the routes' own Fastify schemas (querystring, params, responses): 3.1 takes JSON Schema as it is, type arrays (`["string", "null"]`) included. */
export function openapiDocument(routes: readonly RouteInfo[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const s = (r.schema ?? {}) as {
      querystring?: { properties?: Record<string, unknown>; required?: string[] };
      params?: { properties?: Record<string, unknown> };
      response?: Record<string, unknown>;
      summary?: string;
      description?: string;
      tags?: string[];
      security?: unknown;
    };
    const url = r.url.replace(/:(\w+)/g, '{$1}');
    for (const m of [r.method].flat()) {
      if (m === 'HEAD') continue;
      const parameters = [
        ...Object.entries(s.params?.properties ?? {}).map(([name, schema]) => ({ name, in: 'path', required: true, schema })),
        ...Object.entries(s.querystring?.properties ?? {}).map(([name, schema]) => ({
          name,
          in: 'query',
          required: s.querystring?.required?.includes(name) ?? false,
          schema,
        })),
      ];
      const responses: Record<string, unknown> = r.guarded ? { ...AUTH_RESPONSES } : {};
      for (const [code, schema] of Object.entries(s.response ?? {}))
        responses[code] = { description: (schema as { description?: string }).description ?? code, content: { 'application/json': { schema } } };
      if (!Object.keys(s.response ?? {}).length) responses.default = { description: 'see docs/api.md and docs/console.md' };
      paths[url] ??= {};
      paths[url]![m.toLowerCase()] = {
        ...(s.summary ? { summary: s.summary } : {}),
        ...(s.description ? { description: s.description } : {}),
        ...(s.tags ? { tags: s.tags } : {}),
        // The document's default is a bearer token; a route without a guard (health, readiness) needs none.
        ...(s.security ? { security: s.security } : r.guarded ? {} : { security: [] }),
        parameters,
        ...(BODIES[`${m} ${r.url}`] ? { requestBody: BODIES[`${m} ${r.url}`] } : {}),
        responses,
      };
    }
  }
  return {
    openapi: '3.1.0',
    info: { title: 'streamline-enrich API', version: '1', description: 'Submit products, follow them, get the enriched result (docs/api.md).' },
    components: { schemas: { Record: RECORD_SCHEMA, Error: ERROR_SCHEMA }, securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths,
  };
}

declare module 'fastify' {
  interface FastifySchema {
    /** One line for /openapi.json. */
    summary?: string;
    description?: string;
    /** Leave this route out of /openapi.json. */
    hide?: boolean;
  }
}
