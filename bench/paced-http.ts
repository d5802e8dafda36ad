/**
 * An open-loop, evenly paced HTTP load: request i is due at start + i / rate and is sent then,
 * whatever is still in flight; its latency is counted from when it was due (so a stalled client
 * cannot hide a slow server: no coordinated omission). autocannon's rate limit is a per-second
 * quota per connection, spent at once at each second's start: a burst of `rate` requests, not a
 * steady load at that rate, which is what a latency-at-half-capacity figure needs.
 */
import { Agent, request } from 'node:http';
import { percentile } from './stats.js';

export interface PacedOptions {
  url: string;
  method: 'POST' | 'GET';
  headers: Record<string, string>;
  /** Requests per second. */
  rate: number;
  seconds: number;
  /** The body of request i. */
  body: (i: number) => string;
  /** Most sockets open at once. @defaultValue 256 */
  maxSockets?: number;
}

export interface PacedResult {
  requests: number;
  /** Responses by status code; `error` counts requests that got none. */
  statuses: Record<string, number>;
  p50: number;
  p99: number;
  max: number;
  /** Every request's latency (ms from when it was due), ascending: to pool several runs. */
  latencies: number[];
  /** How late the sender was at worst (ms): large means the load generator, not the server, fell behind. */
  maxSendLagMs: number;
}

function send(agent: Agent, opts: PacedOptions, body: string): Promise<number | 'error'> {
  return new Promise((resolve) => {
    const req = request(opts.url, { method: opts.method, headers: { ...opts.headers, 'content-length': Buffer.byteLength(body) }, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve('error'));
    });
    req.on('error', () => resolve('error'));
    req.end(body);
  });
}

export async function pacedHttp(opts: PacedOptions): Promise<PacedResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: opts.maxSockets ?? 256 });
  const n = Math.max(1, Math.round(opts.rate * opts.seconds));
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const inFlight: Promise<void>[] = [];
  const start = performance.now();
  let maxSendLagMs = 0;
  for (let i = 0; i < n; i++) {
    const due = start + (i * 1000) / opts.rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    maxSendLagMs = Math.max(maxSendLagMs, performance.now() - due);
    inFlight.push(
      send(agent, opts, opts.body(i)).then((status) => {
        latencies.push(performance.now() - due);
        statuses[status] = (statuses[status] ?? 0) + 1;
      }),
    );
  }
  await Promise.all(inFlight);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return { requests: n, statuses, p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1)!, maxSendLagMs, latencies };
}
