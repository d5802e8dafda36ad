/**
 * `POST /v1/enrich` when no completion comes within `timeout_ms` (an audit's finding: the status
 * lookup after the deadline ran on the shared connection under load and answered 2,341 ms for a
 * 2,000 ms deadline; and a product found stored by that lookup was answered 202 "stored" with no
 * product). Real server, real Redis; Redis is paused (CLIENT PAUSE) to hold the lookup up.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Redis } from 'ioredis';
import { buildServer } from '../../lib/api/server.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import { encodeStatus } from '../../lib/stream/status-value.js';
import { readRedisProduct } from '../../stages/sinks/export.js';
import { rulesOnlyConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';
import { readyOrClosed } from '../helpers/api-server.js';

const { server, redis } = await redisForFile(test);
const TOKEN = 'admin-token-0123456789a';
const H = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

/** A listening server over a pipeline with no workers: nothing completes unless the test says so. */
async function listening() {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  const app = await buildServer({
    config: rulesOnlyConfig(server.url, pipeline),
    tokens: [{ token: TOKEN, roles: ['admin'] }],
    logger: silentLogger,
    limits: { completionsBlockMs: 100, backpressureCacheMs: 60_000 },
    productReader: (ctx: { redis: Redis }) => ({ read: async (k: string) => (await readRedisProduct(ctx.redis, keys, k)) as Record<string, unknown> | null }),
  });
  await readyOrClosed(app, async () => {
    await app.listen({ host: '127.0.0.1', port: 0 });
    await waitFor('completions reader', () => app.pipeline.completions.following, 5_000);
  });
  return { app, keys, base: `http://127.0.0.1:${(app.server.address() as { port: number }).port}` };
}

const enrich = (base: string, id: string, timeoutMs: number) =>
  fetch(`${base}/v1/enrich?timeout_ms=${timeoutMs}`, { method: 'POST', headers: H, body: JSON.stringify({ id, title: 'Logitech M510 Wireless Mouse' }) });

test('enrich answers by its deadline while its status lookup is held up (Redis paused): 202 processing, not when Redis answers', async () => {
  const { app, keys, base } = await listening();
  try {
    await enrich(base, 'warm', 50); // the functions library loaded, the backpressure reading cached
    const TIMEOUT = 1_000;
    const PAUSE = 2_500;
    const t0 = Date.now();
    const answer = enrich(base, 'held', TIMEOUT);
    await waitFor('the record to be taken', async () => (await redis.exists(keys.status('held'))) === 1, 5_000, 5);
    await redis.client('PAUSE', PAUSE, 'ALL'); // every later command waits PAUSE ms: the lookup at the deadline too
    const r = await answer;
    const ms = Date.now() - t0;
    assert.ok(ms < TIMEOUT + 400, `answered ${ms} ms after it was sent, for a ${TIMEOUT} ms deadline (Redis paused ${PAUSE} ms)`);
    assert.is(r.status, 202);
    assert.equal(await r.json(), { id: 'held', status: 'processing', stage: null }, 'taken, not known final: the client polls');
  } finally {
    await app.close();
  }
});

test('a product found stored by the lookup at the deadline is answered 200 with the product (it was a 202 "stored" without it)', async () => {
  const { app, keys, base } = await listening();
  try {
    const answer = enrich(base, 'late', 1_000);
    await waitFor('the record to be taken', async () => (await redis.exists(keys.status('late'))) === 1, 5_000, 5);
    // Stored, as the store stage leaves it, but its completion event never reaches this server's waiter (as when it lands just after the waiter's timer).
    await redis.hset(keys.product('late'), { category: 'peripherals', brand: 'Logitech', storedAt: String(Date.now()), doc: '{}' });
    await redis.set(keys.status('late'), encodeStatus({ s: 'stored', g: 'store', t: Date.now() }), 'PX', 60_000);
    const r = await answer;
    const body = (await r.json()) as { status: string; product?: { key: string; brand: string } };
    assert.is(r.status, 200, JSON.stringify(body));
    assert.is(body.status, 'stored');
    assert.equal([body.product?.key, body.product?.brand], ['late', 'Logitech']);
  } finally {
    await app.close();
  }
});

test.run();
