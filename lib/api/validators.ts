import { AjvCompiler } from '@fastify/ajv-compiler';

type BuildValidator = ReturnType<typeof AjvCompiler>;
type Validate = ReturnType<ReturnType<BuildValidator>>;

/** One error as ajv reports it, which Fastify formats as `querystring/<name> <message>`. */
interface ValidationError {
  instancePath: string;
  schemaPath: string;
  keyword: string;
  params: Record<string, unknown>;
  message: string;
}

/** The first field of a coerced request part (or an item of one) holding a number that is not finite: its path, or undefined. */
function nonFinite(data: unknown): string | undefined {
  if (data === null || typeof data !== 'object') return undefined;
  for (const [k, v] of Object.entries(data as Record<string, unknown>)) {
    const values: unknown[] = Array.isArray(v) ? v : [v];
    if (values.some((x) => typeof x === 'number' && !Number.isFinite(x))) return `/${k}`;
  }
  return undefined;
}

/**
 * A coercing validator that also refuses what its coercion made infinite: ajv turns the text
 * `1e309` into Infinity and then skips its type and range checks (each is guarded by isFinite),
 * so `?minutes=1e309` and `?timeout_ms=-1e309` had passed a `minimum` and a `maximum`.
 */
function finiteOnly(validate: Validate): Validate {
  const wrapped = ((data: unknown, ctx?: unknown) => {
    const ok = (validate as (d: unknown, c?: unknown) => unknown)(data, ctx);
    if (ok !== true) {
      wrapped.errors = (validate as { errors?: unknown }).errors;
      return ok;
    }
    const at = nonFinite(data);
    if (at === undefined) return true;
    const error: ValidationError = { instancePath: at, schemaPath: '#/type', keyword: 'type', params: {}, message: 'must be a finite number' };
    wrapped.errors = [error];
    return false;
  }) as ((data: unknown, ctx?: unknown) => unknown) & { errors?: unknown; schemaEnv?: unknown };
  // Fastify passes the parent data (for a root coercion) only to a validator that has ajv's schemaEnv.
  wrapped.schemaEnv = (validate as { schemaEnv?: unknown }).schemaEnv;
  return wrapped as unknown as Validate;
}

/**
 * The API's request validators (Fastify's `schemaController.compilersFactory.buildValidator`): the
 * querystring, path parameters and headers with the server's ajv options as they are (`coerceTypes:
 * 'array'`: on the wire they are strings, `?wait_ms=100` is a number), a number only when finite
 * (`?wait_ms=1e309` is a 400 naming it), a body with no coercion: its JSON types are the client's,
 * so `{"reason": 5}` is a 400 naming the field and the type it must be, not the string "5", and
 * `{"ids": "1-0"}` is not taken as `["1-0"]`.
 */
export function buildValidator(): BuildValidator {
  const build = AjvCompiler();
  return (externalSchemas, options) => {
    // The server's ajv options are ajv's own (never JTD mode); the body's are the same with coercion off.
    const customOptions = options?.mode === 'JTD' ? undefined : options?.customOptions;
    const coercing = build(externalSchemas, options);
    const strict = build(externalSchemas, { ...options, mode: undefined, customOptions: { ...customOptions, coerceTypes: false } });
    return (route) => (route.httpPart === 'body' ? strict(route) : finiteOnly(coercing(route)));
  };
}
