import type { Socket } from 'node:net';
import type { FastifyRequest } from 'fastify';
import type { Logger } from '../observe/logger.js';
import type { Metrics } from '../observe/metrics.js';
import { countRequest, UNMATCHED } from './request-metrics.js';
import { echo } from './echo.js';

/** The answer to what Node's HTTP parser refuses, by its error code. */
function answerFor(code: string | undefined, requestTimeoutMs: number): { status: number; error: string; message: string } {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT')
    return {
      status: 408,
      error: 'request_timeout',
      message: `the request was not received whole within api.requestTimeoutMs (${requestTimeoutMs} ms)`,
    };
  if (code === 'HPE_HEADER_OVERFLOW') return { status: 431, error: 'headers_too_large', message: "the request's headers are over the server's limit (16 KB)" };
  return { status: 400, error: 'bad_request', message: `the request is not valid HTTP (${code ?? 'unknown'})` };
}

/**
 * What Node's HTTP server answers itself, before or beside a route: a request not received whole
 * within `requestTimeoutMs` (a slow body or slow headers), headers over its limit, bytes that are
 * not HTTP. Fastify's own handler answered these in another shape, without the request id or the
 * security headers, logged nothing above trace level and counted nothing; and a body cut off by the
 * timeout was logged and counted as the client's abort. Here each is answered in the API's shape,
 * logged (`http.client_error`, with the id of the request in flight on the socket if any, else a
 * new one) and counted in `api.requests` (the request's own route when one was in flight).
 */
export class ClientErrors {
  /** The request being read on each socket: a timeout during its body is that request's. */
  private readonly inFlight = new WeakMap<Socket, FastifyRequest>();
  /** The requests in flight that an error here ended, with the status they were answered. */
  private readonly ended = new WeakMap<FastifyRequest, number>();

  constructor(
    private readonly o: {
      logger: Logger;
      metrics: Metrics;
      requestTimeoutMs: number;
      /** The headers every answer carries (server.ts SECURITY_HEADERS). */
      headers: Readonly<Record<string, string>>;
      /** A new request id, for an error with no request in flight. */
      newId: () => string;
    },
  ) {}

  /** From an onRequest hook: `request` is the one being read on its socket until its answer closes. */
  track(request: FastifyRequest, onClose: (listener: () => void) => void): void {
    const socket = request.raw.socket;
    this.inFlight.set(socket, request);
    onClose(() => {
      if (this.inFlight.get(socket) === request) this.inFlight.delete(socket);
    });
  }

  /** The status `request` was answered here (408: the server's request timeout cut it off; 400: its body was not HTTP), not the client's abort; undefined for any other. */
  cutOff(request: FastifyRequest): number | undefined {
    return this.ended.get(request);
  }

  /** Fastify's `clientErrorHandler`. */
  readonly handle = (err: Error & { code?: string }, socket: Socket): void => {
    // A connection reset: nothing to answer (as Fastify's own handler).
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    // Closed by the client before its request was whole (EOF): nothing to answer, the connection is
    // ended (a request in flight is logged as the client's abort, api.client_aborted, by the error handler).
    if (err.code === 'HPE_INVALID_EOF_STATE') return void socket.destroy();
    const { status, error, message } = answerFor(err.code, this.o.requestTimeoutMs);
    const request = this.inFlight.get(socket);
    if (request) this.ended.set(request, status);
    const id = request?.id ?? this.o.newId();
    this.o.logger.info('http.client_error', { requestId: id, status, code: err.code, ...(request ? { method: request.method, url: echo(request.url) } : {}) });
    // A request in flight is counted when its answer closes (request-metrics.ts, with this status).
    if (!request) countRequest(this.o.metrics, { route: UNMATCHED, method: 'unknown', status, ms: 0 });
    if (socket.writable) {
      const body = JSON.stringify({ error, message });
      const headers = {
        ...this.o.headers,
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(body),
        'x-request-id': id,
        connection: 'close',
      };
      const head = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`);
      socket.write(`HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\n${head.join('')}\r\n${body}`);
    }
    socket.destroy(err);
  };
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' };
