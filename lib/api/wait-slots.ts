import type { ServerResponse } from 'node:http';
import type { FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { TooManyWaits } from './errors.js';

/** The caps a WaitSlots enforces (the config's `api.maxWaits` and `api.maxWaitsPerCaller`). */
export interface WaitCaps {
  /** Waits and streams open at once on the server, every caller's. */
  maxWaits: number;
  /** Waits and streams open at once for one caller. */
  maxWaitsPerCaller: number;
}

/**
 * The requests that hold their connection open (the SSE streams, `GET /v1/products/{id}?wait_ms`,
 * `POST /v1/enrich`), counted per caller and in all: one client holding a read token could
 * otherwise open waits until `maxConnections` was reached and `/healthz` and `/metrics` were
 * refused with everything else. A slot is taken before the route's handler runs and given back
 * when its response closes: answered, timed out, ended by the server, or the client gone.
 */
export class WaitSlots {
  private total = 0;
  private readonly byCaller = new Map<string, number>();

  constructor(
    private readonly caps: WaitCaps,
    /** Who a request's caller is: its token's name, or (no tokens configured) its remote address. */
    private readonly callerOf: (request: FastifyRequest) => string,
  ) {}

  /** Waits and streams open now: in all, or of one caller. */
  open(caller?: string): number {
    return caller === undefined ? this.total : (this.byCaller.get(caller) ?? 0);
  }

  /**
   * A preHandler hook taking a slot for the request (`when` false: the request does not wait, as a
   * status read without `wait_ms`; HEAD never does). Over a cap it throws TooManyWaits (429,
   * lib/api/errors.ts); the slot is freed when the response closes.
   */
  guard(when: (request: FastifyRequest) => boolean = () => true): preHandlerAsyncHookHandler {
    return async (request, reply) => {
      if (request.method === 'HEAD' || !when(request)) return;
      this.take(this.callerOf(request), reply.raw);
    };
  }

  private take(caller: string, res: ServerResponse): void {
    // A client gone before the handler: its close has passed, so a slot taken now would never be freed.
    if (res.closed || res.destroyed || !res.socket || res.socket.destroyed) return;
    const mine = this.byCaller.get(caller) ?? 0;
    if (mine >= this.caps.maxWaitsPerCaller) throw new TooManyWaits('maxWaitsPerCaller', this.caps.maxWaitsPerCaller, caller);
    if (this.total >= this.caps.maxWaits) throw new TooManyWaits('maxWaits', this.caps.maxWaits, caller);
    this.byCaller.set(caller, mine + 1);
    this.total++;
    res.once('close', () => {
      this.total--;
      const left = (this.byCaller.get(caller) ?? 1) - 1;
      if (left > 0) this.byCaller.set(caller, left);
      else this.byCaller.delete(caller);
    });
  }
}
