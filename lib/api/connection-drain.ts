import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../observe/logger.js';

/**
 * What the server's close waits for, bounded. Node's `server.close()` ends the connections idle
 * after an answer, but not one that has sent no request yet, or only part of one (a browser's
 * preconnect, an HTTP client pool's spare socket, a slow sender): the parser counts those as busy,
 * and the check that would time them out stops with the close. Each had held the close until its
 * client went away (an aborted fetch's pool: 4 s; a client that never closes: for ever).
 *
 * So once the server stops accepting, every connection with no request in flight is ended (after
 * what it is being sent), and each one whose last request is answered is ended then; whatever is
 * still open `drainTimeoutMs` later (an answer a client does not read, a body never sent) is
 * destroyed, logged `api.drain_timeout`.
 */
export class ConnectionDrain {
  /** Every open connection and its requests not yet answered. */
  private readonly inFlight = new Map<Socket, number>();
  private draining = false;
  private timer?: NodeJS.Timeout;

  constructor(
    server: Server,
    private readonly drainTimeoutMs: number,
    private readonly logger: Logger,
  ) {
    server.on('connection', (socket: Socket) => {
      if (this.draining) return void socket.destroySoon();
      this.inFlight.set(socket, 0);
      socket.once('close', () => this.inFlight.delete(socket));
    });
    server.on('request', (req, res) => {
      const socket = req.socket;
      if (!this.inFlight.has(socket)) return;
      this.inFlight.set(socket, this.inFlight.get(socket)! + 1);
      res.once('close', () => {
        const n = this.inFlight.get(socket);
        if (n === undefined) return;
        this.inFlight.set(socket, n - 1);
        if (this.draining && n === 1) socket.destroySoon();
      });
    });
    server.once('close', () => clearTimeout(this.timer));
    // Right as the server stops accepting (Fastify calls it after the preClose hooks): a sweep earlier
    // would cut off a client whose request the closing server still answers 503.
    const close = server.close.bind(server);
    server.close = (callback?: (err?: Error) => void) => {
      close(callback);
      this.drain();
      return server;
    };
  }

  /** End the connections with nothing in flight, and bound the wait for the others. */
  private drain(): void {
    if (this.draining) return;
    this.draining = true;
    for (const [socket, n] of this.inFlight) if (n === 0) socket.destroySoon();
    // An ended connection whose client reads nothing never finishes sending either: bounded too.
    this.timer = setTimeout(() => {
      const open = [...this.inFlight.keys()].filter((s) => !s.destroyed);
      if (open.length === 0) return;
      this.logger.warn('api.drain_timeout', { drainTimeoutMs: this.drainTimeoutMs, connections: open.length });
      for (const socket of open) socket.destroy();
    }, this.drainTimeoutMs);
    // The connections keep the process alive while they are open; this timer alone need not.
    this.timer.unref();
  }
}
