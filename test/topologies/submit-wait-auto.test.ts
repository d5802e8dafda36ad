/**
 * `api.submitWaitReplicas` "auto", the default: a submit is answered 202 only once a replica of
 * its master has it when the master has one (a replica stopped with SIGSTOP: WAIT 1 times out,
 * the call is sent again until `submitRetryMs`, then 503), and a redis-server without replicas is
 * sent no WAIT at all (INFO commandstats). Real servers: a master, its replica, a standalone one.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { FastifyInstance } from 'fastify';
import type { ApiLimits } from '../../lib/api/options.js';
import { buildServer } from '../../lib/api/server.js';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { createLogger, silentLogger, type Logger } from '../../lib/observe/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import { rulesOnlyConfig } from '../helpers/pipeline.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';
import { commandCalls, ReplicatedPair } from '../helpers/replica.js';
import { readyOrClosed } from '../helpers/api-server.js';

const TOKEN = 'admin-token-0123456789a';
const H = { authorization: `Bearer ${TOKEN}` };
/** Short WAITs and retries: a stalled replica turns into a 503 within about a second. */
const SHORT: Partial<ApiLimits> = { submitWaitTimeoutMs: 200, submitRetryMs: 1_200 };

const pair = await ReplicatedPair.start();
const standalone = await startRedis();
const alone = client(standalone.url);

async function serverFor(config: ResolvedConfig, limits: Partial<ApiLimits> = {}, logger: Logger = silentLogger): Promise<FastifyInstance> {
  const app = await buildServer({
    config,
    tokens: [{ token: TOKEN, roles: ['admin'] }],
    logger,
    limits: { completionsBlockMs: 100, backpressureCacheMs: 0, ...SHORT, ...limits },
  });
  return readyOrClosed(app, () => waitFor('completions reader', () => app.pipeline.completions.following, 5_000));
}

const post = (app: FastifyInstance, id: string) => app.inject({ method: 'POST', url: '/v1/products', headers: H, payload: { id, title: 'Acme widget' } });

test('with a replica, by default: 503 while the replica acknowledges nothing (it was 202), its message and log line naming the replicas (it said "no reply from Redis"), submitWaitReplicas 0: 202 all the same; 202 once the replica has the records', async () => {
  const pipeline = randomPipeline('wa');
  const config = rulesOnlyConfig(pair.master.url, pipeline);
  const lines: Record<string, unknown>[] = [];
  const app = await serverFor(
    config,
    {},
    createLogger({ component: 'api' }, 'info', (l) => lines.push(JSON.parse(l) as Record<string, unknown>)),
  );
  const off = await serverFor(config, { submitWaitReplicas: 0 });
  try {
    pair.stall();
    const refused = await post(app, 'r1');
    assert.is(refused.statusCode, 503, `not acknowledged while the replica lags: ${refused.body}`);
    const body = refused.json<{ error: string; message: string }>();
    assert.is(body.error, 'outcome_unknown', refused.body);
    // Redis answered: the message says the master has the records and no replica acknowledged them
    // (it said "no reply from Redis within 1200 ms"), names the settings, and that sending again is safe.
    assert.not.match(body.message, /no reply from Redis/, body.message);
    assert.match(
      body.message,
      /on the Redis master but not yet on a replica: 0 of 1 replica acknowledged within api\.submitWaitTimeoutMs \(200 ms\)/,
      body.message,
    );
    assert.match(body.message, /api\.submitRetryMs \(1200 ms\).*api\.submitWaitReplicas auto/, body.message);
    assert.match(body.message, /Submitting them again is safe: a product id is stored once/, body.message);
    // The request's log line says the same, with its request id.
    const logged = lines.filter((l) => l.event === 'api.replicas_unacknowledged');
    assert.is(logged.length, 1, JSON.stringify(lines));
    assert.is(logged[0]!.requestId, refused.headers['x-request-id']);
    assert.equal(
      [logged[0]!.acked, logged[0]!.wanted, logged[0]!.submitWaitTimeoutMs, logged[0]!.submitRetryMs, logged[0]!.submitWaitReplicas, logged[0]!.status],
      [0, 1, 200, 1200, 'auto', 503],
    );
    assert.is(logged[0]!.err, body.message);
    const unwaited = await post(off, 'r2');
    assert.is(unwaited.statusCode, 202, `submitWaitReplicas 0: ${unwaited.body}`);
    await pair.resume();
    const waitsBefore = await commandCalls(pair.admin, 'wait');
    assert.is((await post(app, 'r3')).statusCode, 202, 'acknowledged once the replica has it');
    assert.is((await post(app, 'r4')).statusCode, 202);
    assert.ok((await commandCalls(pair.admin, 'wait')) >= waitsBefore + 2, 'each call waited for the replica');
    // The 503 call's records are in the master all the same (the answer said outcome unknown): sent once, not twice.
    assert.is(await pair.admin.xlen(new Keys(pipeline).stream(config.input)), 4);
    assert.is(config.api.submitWaitReplicas, 'auto', 'the default');
  } finally {
    await pair.resume().catch(() => {});
    await app.close();
    await off.close();
  }
});

test('standalone redis-server without replicas, by default: 202 at once and no WAIT ever sent', async () => {
  const pipeline = randomPipeline('ws');
  const config = rulesOnlyConfig(standalone.url, pipeline);
  const app = await serverFor(config);
  try {
    for (const id of ['s1', 's2', 's3']) assert.is((await post(app, id)).statusCode, 202);
    assert.is(await alone.xlen(new Keys(pipeline).stream(config.input)), 3);
    assert.is(await commandCalls(alone, 'wait'), 0, 'cmdstat_wait absent');
    assert.ok((await commandCalls(alone, 'info')) > 0, 'the replica count was read (INFO replication)');
  } finally {
    await app.close();
  }
});

test.after(async () => {
  alone.disconnect();
  await standalone.close();
  await pair.close();
});

test.run();
