/**
 * The API server watches the data-loss marker itself (lib/api/server-data-loss-watch.ts): with no worker
 * running (stopped for a deploy), a redis-server without persistence restarted empty under `pipeline
 * serve` gives the server's own `redis.data_lost` line (stage `api`) and the record `{p}:data-lost`,
 * which `/readyz` and `GET /v1/data-loss` show; as the API user of `pipeline acl --apply` too
 * (FLUSHALL there: a restart empty would lose the ACL users), with nothing refused. As the user of an
 * older ACL: a marker it may not write is one warn line (not silent), a record it may not write
 * leaves the loss said once (not at every check).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createLogger } from '../../lib/observe/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import { listeningApi } from '../helpers/api-server.js';
import { FAST, rulesOnlyConfig, writeConfig } from '../helpers/pipeline.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';
import { aclRefusals, applyApiUser, serveAsApiUser } from '../helpers/serve-as-user.js';

/** The marker is read again this often (the stages' dataLossCheckMs, which the server takes too). */
const TIMERS = { ...FAST, dataLossCheckMs: 100 };
/** How long the server may take to see the loss (its reconnect, then a check). */
const SEEN_WITHIN_MS = 20_000;
const TOKEN = 'data-loss-serve-token-0123456789';

/** What a test started before its try, released when what follows fails (the try has not begun: left open, they would hold the process). */
const release =
  (admin: { disconnect(): void }, server: { close(): Promise<unknown> }) =>
  async (err: unknown): Promise<never> => {
    admin.disconnect();
    await server.close();
    throw err;
  };
const lostLines = (logs: string[]) => logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.event === 'redis.data_lost');

test('only the API server runs and Redis restarts empty: its own redis.data_lost (stage api), the record, /readyz and GET /v1/data-loss say it', async () => {
  const server = await startRedis();
  const config = rulesOnlyConfig(server.url, randomPipeline('dsv'), TIMERS);
  const keys = new Keys(config.pipeline);
  const logs: string[] = [];
  const api = await listeningApi(config, TOKEN, { logger: createLogger({ component: 'api' }, 'info', (l) => logs.push(l)) }).catch(async (err: unknown) => {
    await server.close(); // the try below has not begun: left running, it would hold the process
    throw err;
  });
  const redis = client(server.url);
  const get = async (path: string) =>
    (await fetch(`${api.base}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } })).json() as Promise<Record<string, unknown>>;
  try {
    // A fresh Redis and no worker: the server wrote the marker, and raised nothing.
    await waitFor('the server wrote the data-loss marker', async () => (await redis.get(keys.epoch)) !== null, 10_000);
    assert.equal(await get('/v1/data-loss'), [], 'nothing lost yet');

    await server.restart('SIGKILL');
    await waitFor(
      'GET /v1/data-loss lists the loss',
      async () => ((await get('/v1/data-loss').catch(() => [])) as unknown as unknown[]).length === 1,
      SEEN_WITHIN_MS,
    );
    const [record] = (await get('/v1/data-loss')) as unknown as Record<string, unknown>[];
    assert.is(record!.stage, 'api', JSON.stringify(record));
    assert.is(record!.what, 'marker_gone', JSON.stringify(record));
    assert.is(record!.tag, keys.tag);
    // Ready again once its completions reader follows `{p}:done` again (after the reconnect): the loss does not fail readiness.
    await waitFor('ready again', async () => (await fetch(`${api.base}/readyz`)).status === 200, SEEN_WITHIN_MS);
    const body = (await (await fetch(`${api.base}/readyz`)).json()) as { dataLost?: unknown[]; degraded?: string };
    assert.is(body.dataLost?.length, 1, JSON.stringify(body));
    assert.match(body.degraded ?? '', /^REDIS LOST DATA: at \S+ the API server \(/);
    const lines = lostLines(logs);
    assert.is(lines.length, 1, JSON.stringify(lines));
    assert.is(lines[0]!.level, 'error');
    assert.is(lines[0]!.stage, 'api');
    assert.ok(await redis.get(keys.epoch), 'the marker written anew');
  } finally {
    redis.disconnect();
    await api.app.close();
    await server.close();
  }
});

test('as the API user of `pipeline acl --apply`, no worker: FLUSHALL is seen by the server (the record, GET /v1/data-loss), Redis refused the user nothing', async () => {
  const server = await startRedis();
  const admin = client(server.url);
  const pipeline = randomPipeline('dsa');
  const keys = new Keys(pipeline);
  const { apiUrl, user } = await applyApiUser(writeConfig(pipeline, TIMERS), server.url, pipeline);
  const served = await serveAsApiUser(
    rulesOnlyConfig(server.url, pipeline, TIMERS),
    apiUrl,
    TOKEN,
    createLogger({ component: 'api' }, 'warn', () => {}),
  );
  try {
    await waitFor('the server wrote the data-loss marker', async () => (await admin.get(keys.epoch)) !== null, 10_000);
    await admin.flushall();
    await waitFor('GET /v1/data-loss lists the loss', async () => ((await served.call('/v1/data-loss')) as unknown[]).length === 1, SEEN_WITHIN_MS);
    const [record] = (await served.call('/v1/data-loss')) as Record<string, unknown>[];
    assert.is(record!.stage, 'api', JSON.stringify(record));
    assert.is(await admin.hget(keys.dataLost, 'reports'), '1');
    await waitFor('the marker written anew', async () => (await admin.get(keys.epoch)) !== null, 5_000);
    assert.equal(await aclRefusals(admin, user), [], 'Redis refused the API user nothing');
  } finally {
    await served.close();
    admin.disconnect();
    await server.close();
  }
});

/** A user of an older deployment's ACL: everything but `refused` (the marker's SET NX, the record's writes). */
async function olderUser(admin: ReturnType<typeof client>, serverUrl: string, name: string, refused: string[]): Promise<string> {
  await admin.acl('SETUSER', name, 'reset', 'on', '>old-password', '~*', '&*', '+@all', ...refused.map((c) => `-${c}`));
  const url = new URL(serverUrl);
  url.username = name;
  url.password = 'old-password';
  return url.toString();
}

const levelled = (logs: string[], event: string, level: string) => parsedLines(logs).filter((l) => l.event === event && l.level === level);
const parsedLines = (logs: string[]) => logs.map((l) => JSON.parse(l) as Record<string, unknown>);

test('an API user of an older ACL (no SET of the marker) on a Redis without one: one warn line, the alarm blind, not silent', async () => {
  const server = await startRedis();
  const admin = client(server.url);
  const pipeline = randomPipeline('dsn');
  const logs: string[] = [];
  const url = await olderUser(admin, server.url, `${pipeline}-old`, ['set']);
  const api = await listeningApi(rulesOnlyConfig(url, pipeline, TIMERS), TOKEN, {
    logger: createLogger({ component: 'api' }, 'debug', (l) => logs.push(l)),
  }).catch(release(admin, server));
  try {
    // NOPERM at every check: said once at warn (it had been debug lines only, the alarm blind without a word).
    await waitFor('the watch says it cannot write the marker', () => levelled(logs, 'redis.data_loss_check_error', 'warn').length > 0, 10_000);
    await waitFor('three more checks refused', () => levelled(logs, 'redis.data_loss_check_error', 'debug').length >= 3, 10_000);
    const warned = levelled(logs, 'redis.data_loss_check_error', 'warn');
    assert.is(warned.length, 1, JSON.stringify(warned));
    assert.match(JSON.stringify(warned[0]), /NOPERM/);
    assert.equal(lostLines(logs), [], 'no false alarm');
  } finally {
    await api.app.close();
    admin.disconnect();
    await server.close();
  }
});

test('an API user of an older ACL (no write of the record) sees the marker go: one redis.data_lost line, not one per check', async () => {
  const server = await startRedis();
  const admin = client(server.url);
  const pipeline = randomPipeline('dsr');
  const keys = new Keys(pipeline);
  const logs: string[] = [];
  await admin.set(keys.epoch, 'marker-of-the-workers');
  const url = await olderUser(admin, server.url, `${pipeline}-old`, ['set', 'hsetnx', 'hset', 'hincrby']);
  const api = await listeningApi(rulesOnlyConfig(url, pipeline, TIMERS), TOKEN, {
    logger: createLogger({ component: 'api' }, 'debug', (l) => logs.push(l)),
  }).catch(release(admin, server));
  try {
    // Adopted: the server's GETs of the marker (the only GETs here) at start and at a check after.
    await waitFor(
      'the server read the marker twice',
      async () => Number(/cmdstat_get:calls=(\d+)/.exec(await admin.info('commandstats'))?.[1] ?? 0) >= 2,
      10_000,
    );
    await admin.del(keys.epoch);
    await waitFor('the server says the loss', () => lostLines(logs).length > 0, SEEN_WITHIN_MS);
    // Its record refused (NOPERM) and the marker not written anew: the checks that follow fail, and say no loss again.
    await waitFor('three more checks', () => levelled(logs, 'redis.data_loss_check_error', 'debug').length >= 3, 10_000);
    assert.is(lostLines(logs).length, 1, JSON.stringify(lostLines(logs)));
    assert.is(levelled(logs, 'redis.data_loss_check_error', 'warn').length, 1, 'the refusal said once');
  } finally {
    await api.app.close();
    admin.disconnect();
    await server.close();
  }
});

test.run();
