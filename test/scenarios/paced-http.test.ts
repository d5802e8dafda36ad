/**
 * The enrich bench's load generator (bench/paced-http.ts) against a real HTTP server: requests
 * arrive evenly spread at the asked rate (autocannon's rate arrives as one burst per second), and
 * latency counts from when a request was due.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pacedHttp } from '../../bench/paced-http.js';

test('100 requests/s for 1 s arrive spread over the second, not in a burst; a 30 ms server shows in p50', async () => {
  const arrivals: number[] = [];
  const server = createServer((req, res) => {
    arrivals.push(performance.now());
    req.resume();
    req.on('end', () => setTimeout(() => res.end('ok'), 30));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  try {
    const r = await pacedHttp({ url: `http://127.0.0.1:${port}/`, method: 'POST', headers: {}, rate: 100, seconds: 1, body: (i) => `{"i":${i}}` });
    assert.equal(r.statuses, { 200: 100 });
    const span = arrivals.at(-1)! - arrivals[0]!;
    assert.ok(span > 900 && span < 1400, `arrivals spread over ${Math.round(span)} ms`);
    const firstTenth = arrivals.filter((t) => t - arrivals[0]! < 100).length;
    assert.ok(firstTenth <= 20, `${firstTenth} of 100 arrived in the first 100 ms`);
    assert.ok(r.p50 >= 30 && r.p50 < 200, `p50 ${r.p50} ms`);
  } finally {
    server.close();
  }
});

test.run();
