/**
 * A real HTTP receiver for the webhook tests (node:http on a loopback port): every request is
 * recorded (headers, body), and answered by `answer` (a status, or a status and headers; a
 * function of the request count by default 200). `close()` ends it; `listen(port)` again brings it back.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';

export interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  /** When it arrived (ms). */
  at: number;
}

export type Answer = number | { status: number; headers?: Record<string, string> };

export interface Receiver {
  url: string;
  port: number;
  received: Received[];
  /** The answer to the n-th request (0-based). */
  answer: (n: number, r: Received) => Answer;
  close(): Promise<void>;
  listen(port: number): Promise<void>;
}

export async function receiver(answer: (n: number, r: Received) => Answer = () => 200, port = 0): Promise<Receiver> {
  let server: Server | undefined;
  const r: Receiver = {
    url: '',
    port: 0,
    received: [],
    answer,
    async close() {
      const s = server;
      server = undefined;
      if (s) await new Promise<void>((res) => s.close(() => res()).closeAllConnections());
    },
    async listen(p: number) {
      server = createServer((req, res) => {
        let body = '';
        req.on('data', (d: Buffer) => (body += d.toString()));
        req.on('end', () => {
          const got = { headers: req.headers, body, at: Date.now() };
          const n = r.received.push(got) - 1;
          const a = r.answer(n, got);
          const { status, headers } = typeof a === 'number' ? { status: a, headers: {} } : { headers: {}, ...a };
          res.writeHead(status, headers).end(status >= 400 ? 'no' : 'ok');
        });
      });
      await new Promise<void>((res) => server!.listen(p, '127.0.0.1', () => res()));
      // A test that fails before its close() (often started before the test's try) must not hang on
      // it: what the test waits for (its timers, the webhooks' requests) keeps the process alive.
      server.unref();
      r.port = (server.address() as AddressInfo).port;
      r.url = `http://127.0.0.1:${r.port}/hook`;
    },
  };
  await r.listen(port);
  return r;
}

/** A free loopback port with nothing listening on it (a receiver that is down). */
export async function closedPort(): Promise<number> {
  const r = await receiver();
  await r.close();
  return r.port;
}

/** The receiver's side of docs/webhooks.md#verifying-a-delivery: the signature header matches the HMAC of "<timestamp>.<body>". */
export function verify(secret: string, r: Received): boolean {
  const given = String(r.headers['x-pipeline-signature'] ?? '');
  const want = `sha256=${createHmac('sha256', secret)
    .update(`${String(r.headers['x-pipeline-timestamp'])}.${r.body}`)
    .digest('hex')}`;
  return given.length === want.length && timingSafeEqual(Buffer.from(given), Buffer.from(want));
}
