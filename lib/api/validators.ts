import { AjvCompiler } from '@fastify/ajv-compiler';

type BuildValidator = ReturnType<typeof AjvCompiler>;

/**
 * The API's request validators (Fastify's `schemaController.compilersFactory.buildValidator`): the
 * querystring, path parameters and headers with the server's ajv options as they are (`coerceTypes:
 * 'array'`: on the wire they are strings, `?wait_ms=100` is a number), a body with no coercion: its
 * JSON types are the client's, so `{"reason": 5}` is a 400 naming the field and the type it must be,
 * not the string "5", and `{"ids": "1-0"}` is not taken as `["1-0"]`.
 */
export function buildValidator(): BuildValidator {
  const build = AjvCompiler();
  return (externalSchemas, options) => {
    // The server's ajv options are ajv's own (never JTD mode); the body's are the same with coercion off.
    const customOptions = options?.mode === 'JTD' ? undefined : options?.customOptions;
    const coercing = build(externalSchemas, options);
    const strict = build(externalSchemas, { ...options, mode: undefined, customOptions: { ...customOptions, coerceTypes: false } });
    return (route) => (route.httpPart === 'body' ? strict : coercing)(route);
  };
}
