import type { FastifyBaseLogger } from 'fastify';
import type { LogFields, Logger } from '../observe/logger.js';

/**
 * Fastify's logger interface (pino's shape) over the pipeline's JSON logger, so `request.log`
 * lines are the same one-line JSON events as every other process's, with the request id merged
 * in (Fastify makes `request.log` a child with `reqId`). `log.info({ x }, 'event')` logs event
 * `event` with field `x`; a bare string is the event when it is a name (`api.listening`), and
 * Fastify's own sentences ("Server listening at http://...") are event `fastify.log` with the text
 * in `msg`, so every line's event stays a name to filter on.
 */
export function fastifyLogger(logger: Logger, level = 'info'): FastifyBaseLogger {
  const call = (fn: (event: string, fields?: LogFields) => void) => (a: unknown, b?: unknown) => {
    const emit = (text: string, fields?: LogFields) => (/^[a-z][\w.]*$/.test(text) ? fn(text, fields) : fn('fastify.log', { ...fields, msg: text }));
    if (typeof a === 'string') return emit(a);
    if (a instanceof Error) return emit(typeof b === 'string' ? b : 'error', { err: a });
    const fields = (a ?? {}) as LogFields;
    emit(typeof b === 'string' ? b : typeof fields.msg === 'string' ? fields.msg : 'http', fields);
  };
  return {
    level,
    fatal: call(logger.error),
    error: call(logger.error),
    warn: call(logger.warn),
    info: call(logger.info),
    debug: call(logger.debug),
    trace: call(logger.debug),
    silent: () => {},
    child: (bindings: LogFields) => fastifyLogger(logger.child(bindings), level),
  } as unknown as FastifyBaseLogger;
}
