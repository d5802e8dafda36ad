/**
 * `Webhooks.stop` (lib/webhooks/runner.ts) ends in bounded time whatever Redis does: SIGTERM must
 * stop `pipeline webhooks` while Redis is down or silent. Before: stop sent each consumer's leave
 * (delete-idle-consumer-1.lua) on a connection that queues commands until Redis is back, and
 * waited for the answers, so it never returned while Redis was down.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../lib/config/load.js';
import { silentLogger } from '../lib/observe/logger.js';
import { memoryMetrics } from '../lib/observe/metrics.js';
import { Webhooks } from '../lib/webhooks/runner.js';
import { client, randomPipeline, startRedis } from './helpers/redis.js';

const BLOCK_MS = 200;

/** How long `p` took, or undefined when it had not settled within `ms` (the test must not hang). */
async function timed(p: Promise<unknown>, ms: number): Promise<number | undefined> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const done = await Promise.race([p.then(() => true), new Promise<false>((res) => (timer = setTimeout(() => res(false), ms)))]);
  clearTimeout(timer);
  return done ? Date.now() - started : undefined;
}

for (const how of ['down (killed)', 'silent (CLIENT PAUSE)'] as const) {
  test(`stop ends in bounded time while Redis is ${how}`, async () => {
    const server = await startRedis();
    const config = resolveConfig(
      {
        pipeline: randomPipeline('whs'),
        stages: [{ name: 'store', kind: 'store', input: 'in' }],
        routes: {},
        webhooks: [{ name: 'app', url: 'http://127.0.0.1:9/', secretEnv: 'HOOK_SECRET', blockMs: BLOCK_MS }],
      },
      'test',
      { env: { REDIS_URL: server.url } },
    );
    const hooks = new Webhooks({ config, secrets: new Map([['app', 's']]), logger: silentLogger, metrics: memoryMetrics() });
    try {
      await hooks.ready();
      hooks.start();
      await new Promise((res) => setTimeout(res, 3 * BLOCK_MS)); // reading
      if (how === 'down (killed)') await server.stop('SIGKILL');
      else {
        const admin = client(server.url);
        await admin.client('PAUSE', 10_000, 'ALL'); // every other client's commands wait
        admin.disconnect();
      }
      await new Promise((res) => setTimeout(res, 100));
      // The reads end within blockMs (+ 500 ms for the reply's trip), the leave within blockMs, each close within 1 s.
      const took = await timed(hooks.stop(), 8_000);
      assert.ok(took !== undefined, 'stop had not returned after 8 s');
      assert.ok(took < 2 * BLOCK_MS + 500 + 1_000 + 1_000, `stop took ${took} ms`);
    } finally {
      await server.close();
    }
  });
}

test.run();
