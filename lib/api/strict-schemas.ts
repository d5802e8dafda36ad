/**
 * Schemas of the routes that take no query parameters, or no body fields: a parameter or field
 * they would ignore is a 400 naming it (`querystring must NOT have additional properties: x`), as on
 * the routes that take some, never dropped without a word.
 */

/** A route that reads no query parameter. */
export const NO_QUERY = { type: 'object', additionalProperties: false } as const;

/** A route whose body, if any, is an empty JSON object (or `null`). */
export const NO_BODY = { type: ['object', 'null'], additionalProperties: false } as const;

/** A route's query parameters: these, and any other a 400 naming it. */
export const queryOf = <P extends Record<string, object>>(properties: P) => ({ type: 'object', additionalProperties: false, properties }) as const;

/** A 4xx answer of the admin routes: what went wrong, and the body field or parameter it names. */
export const FIELD_ERROR = { type: 'object', properties: { error: { type: 'string' }, message: { type: 'string' }, field: { type: 'string' } } } as const;

/** The `:stage` parameter of the stage routes (`description`: what it may name). */
export const stageParams = (description: string) =>
  ({ type: 'object', required: ['stage'], properties: { stage: { type: 'string', pattern: '^[A-Za-z0-9_.:-]+$', maxLength: 200, description } } }) as const;
