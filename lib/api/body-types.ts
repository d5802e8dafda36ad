/**
 * Which body types each route reads, in one place for the parsers (lib/api/body-parsers.ts) and
 * the 415 a type no parser reads is answered (lib/api/errors.ts), so the 415 names what that route reads.
 */

/** The routes that read an NDJSON body (docs/api.md): one record per line. */
const NDJSON_READERS = new Set(['POST /v1/products']);

/** The routes the NDJSON parser hands a body on to: the readers, and `POST /v1/enrich` to refuse it naming /v1/products. */
export const NDJSON_ROUTES = new Set([...NDJSON_READERS, 'POST /v1/enrich']);

/** The body types `route` (`<METHOD> <url pattern>`) reads. */
export function typesRead(route: string): string[] {
  return ['application/json', ...(NDJSON_READERS.has(route) ? ['application/x-ndjson'] : []), 'application/x-www-form-urlencoded (JSON, as curl -d sends it)'];
}
