/**
 * A webhook reader's Redis errors (lib/webhooks/read-errors.ts), classified by the one failure
 * policy as a worker's read loop does, on a real redis-server: a permission its user lacks is one
 * error line naming the user, the command and the key; Redis refusing writes (MISCONF) is one warn
 * line however long it lasts; Redis stopped and started again is waited out without an error line;
 * a group deleted under it is an error line and the group made again where the reader had got to,
 * so completions added while it was gone are sent (before: made at the stream's end, they were
 * not), from the start of a stream made anew below that position. Each row of errors is
 * counted (`webhooks.read_errors`), and its end said (`webhook.read_resumed`); the reader then
 * delivers. Before: every retry logged `webhook.read_error` at warn with Redis' bare reply, NOPERM
 * and a vanished group included.
 */
import type { Redis } from 'ioredis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { createLogger } from '../../lib/observe/logger.js';
import { memoryMetrics } from '../../lib/observe/metrics.js';
import { Keys } from '../../lib/redis/keys.js';
import type { RedisServer } from '../../lib/redis/server.js';
import { FIELD_KEY } from '../../lib/stream/codec.js';
import { recordCompletions } from '../../lib/stream/done.js';
import { webhookGroup } from '../../lib/webhooks/reader.js';
import { Webhooks } from '../../lib/webhooks/runner.js';
import { allowWrites, refuseWrites } from '../helpers/misconf.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';
import { receiver, type Receiver } from '../helpers/webhook-receiver.js';

type Line = Record<string, unknown>;
/** Backoff 20 ms doubling to 100 ms: a second of errors is a dozen tries, each of which used to be a line. */
const HOOK = {
  name: 'app',
  secretEnv: 'HOOK_SECRET',
  timeoutMs: 2_000,
  backoffBaseMs: 20,
  backoffMaxMs: 100,
  blockMs: 50,
  claimMinIdleMs: 2_500,
  checkIntervalMs: 100,
};

function configFor(server: RedisServer, rx: Receiver, hook: Partial<typeof HOOK> & { stallTimeoutMs?: number } = {}): ResolvedConfig {
  const raw = {
    pipeline: randomPipeline('whre'),
    stages: [{ name: 'store', kind: 'store', input: 'in' }],
    routes: {},
    webhooks: [{ ...HOOK, ...hook, url: rx.url }],
  };
  return resolveConfig(raw, 'test', { env: { REDIS_URL: server.url } });
}

/** A Redis (`startRedis` options), its admin client, a receiver and the webhook's config on them; `close` ends all four. */
async function rig(hook: Partial<typeof HOOK> & { stallTimeoutMs?: number } = {}, redis: Parameters<typeof startRedis>[0] = {}) {
  const server = await startRedis(redis);
  const admin = client(server.url);
  const rx = await receiver();
  const config = configFor(server, rx, hook);
  const close = async () => {
    await rx.close();
    admin.disconnect();
    await server.close();
  };
  return { server, admin, config, keys: new Keys(config.pipeline), close };
}

/** A running `pipeline webhooks` in this process (as `redisUrl`'s user), its log lines and metrics kept. */
async function startHooks(config: ResolvedConfig, redisUrl?: string) {
  const lines: Line[] = [];
  const metrics = memoryMetrics();
  const logger = createLogger({}, 'info', (l) => lines.push(JSON.parse(l) as Line));
  const hooks = new Webhooks({ config, secrets: new Map([['app', 's']]), logger, metrics, consumer: 'c1', ...(redisUrl ? { redisUrl } : {}) });
  await hooks.ready().catch(async (err: unknown) => {
    await hooks.stop(); // its connections are open, and the caller gets no handle to close them
    throw err;
  });
  hooks.start();
  const count = (name: string) => metrics.records.filter((r) => r.name === name).reduce((a, r) => a + r.value, 0);
  const events = (event: string) => lines.filter((l) => l.event === event);
  return { hooks, lines, count, events };
}

const stored = (key: string) => [{ key, status: 'stored' as const, stage: 'store' }];
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** How many replies with this error code the server has sent (INFO errorstats): the refusals, counted by Redis itself. */
const refusals = async (admin: Redis, code: string) => Number(new RegExp(`errorstat_${code}:count=(\\d+)`).exec(await admin.info('errorstats'))?.[1] ?? 0);

test('a permission the user lacks (XREADGROUP): one error line naming the user, the command and the stream, every refusal counted; delivered once granted', async () => {
  const { server, admin, config, keys, close } = await rig();
  await admin.call('ACL', 'SETUSER', 'hooks', 'on', '>pw', '~*', '&*', '+@all', '-xreadgroup');
  const { hooks, count, events } = await startHooks(config, server.url.replace('redis://', 'redis://hooks:pw@'));
  try {
    await waitFor('refused a dozen times', async () => (await refusals(admin, 'NOPERM')) >= 12);
    const said = events('webhook.read_error');
    assert.is(said.length, 1, `one line, not one per retry: ${JSON.stringify(said)}`);
    assert.ok(count('webhooks.read_errors') >= 12, 'each refusal counted');
    assert.is(said[0]!.level, 'error');
    assert.is(said[0]!.webhook, 'app');
    assert.is(said[0]!.stream, keys.done);
    assert.is(said[0]!.consumer, 'c1');
    assert.is(said[0]!.cause, 'redis_noperm');
    assert.is(said[0]!.class, 'transient');
    assert.is(said[0]!.user, 'hooks');
    assert.is(said[0]!.command, 'XREADGROUP');
    assert.equal(said[0]!.keys, [keys.done]);
    assert.match(String(said[0]!.fix), /pipeline acl --apply/);

    await admin.call('ACL', 'SETUSER', 'hooks', '+xreadgroup');
    await recordCompletions(admin, keys, stored('p1'), { maxLen: 1000, statusTtlMs: 60_000 });
    await waitFor('delivered', () => count('webhooks.delivered') === 1);
    assert.is(events('webhook.read_resumed').length, 1);
    assert.is(events('webhook.read_error').length, 1);
  } finally {
    await hooks.stop();
    await close();
  }
});

test('Redis refusing writes (MISCONF) for a second: one warn line, no error line, counted by cause; delivered once it persists again', async () => {
  const { admin, config, keys, close } = await rig();
  const { hooks, count, events, lines } = await startHooks(config);
  try {
    await pause(200); // reading
    await refuseWrites(admin);
    const before = await refusals(admin, 'MISCONF');
    await waitFor('refused a dozen times', async () => (await refusals(admin, 'MISCONF')) >= before + 12);
    await allowWrites(admin);
    await recordCompletions(admin, keys, stored('m1'), { maxLen: 1000, statusTtlMs: 60_000 });
    await waitFor('delivered', () => count('webhooks.delivered') === 1);
    const said = events('webhook.read_error');
    assert.is(said.length, 1, `one line for the outage: ${JSON.stringify(said)}`);
    assert.is(said[0]!.level, 'warn');
    assert.is(said[0]!.cause, 'redis_misconf');
    assert.ok(count('webhooks.read_errors') >= 12, 'each refusal counted');
    assert.is(said[0]!.consumer, 'c1');
    assert.equal(
      lines.filter((l) => l.level === 'error'),
      [],
    );
    assert.is(events('webhook.read_resumed').length, 1);
  } finally {
    await hooks.stop();
    await close();
  }
});

test('an outage that lasts past stallTimeoutMs: the warn line, then one error line saying how long it lasted, however long it goes on', async () => {
  const { admin, config, keys, close } = await rig({ stallTimeoutMs: 400 });
  const { hooks, count, events } = await startHooks(config);
  try {
    await pause(200); // reading
    await refuseWrites(admin);
    await waitFor('said at error', () => events('webhook.read_error').some((l) => l.level === 'error'));
    const before = await refusals(admin, 'MISCONF');
    await waitFor('refused a few times more', async () => (await refusals(admin, 'MISCONF')) >= before + 5);
    await allowWrites(admin);
    await recordCompletions(admin, keys, stored('o1'), { maxLen: 1000, statusTtlMs: 60_000 });
    await waitFor('delivered', () => count('webhooks.delivered') === 1);
    const said = events('webhook.read_error');
    assert.equal(
      said.map((l) => l.level),
      ['warn', 'error'],
      JSON.stringify(said),
    );
    assert.is(said[1]!.cause, 'redis_misconf');
    assert.is(said[1]!.persistedPastMs, 400);
    assert.ok(Number(said[1]!.failingMs) >= 400, `failing ${String(said[1]!.failingMs)} ms`);
    assert.is(events('webhook.read_resumed').length, 1);
  } finally {
    await hooks.stop();
    await close();
  }
});

test('Redis stopped and started again (its AOF kept): the reader waits, resumes and delivers, at most one warn line and no error', async () => {
  const { server, admin, config, keys, close } = await rig({}, { appendonly: true });
  const { hooks, events, lines, count } = await startHooks(config);
  try {
    await pause(200);
    await server.stop();
    await pause(1_500);
    await server.start();
    await recordCompletions(admin, keys, stored('s1'), { maxLen: 1000, statusTtlMs: 60_000 });
    await waitFor('delivered', () => count('webhooks.delivered') === 1);
    assert.ok(events('webhook.read_error').length <= 1, JSON.stringify(events('webhook.read_error')));
    assert.equal(
      lines.filter((l) => l.level === 'error'),
      [],
    );
  } finally {
    await hooks.stop();
    await close();
  }
});

test('the group deleted under the reader (NOGROUP): an error line, the group made again, later completions delivered', async () => {
  const { admin, config, keys, close } = await rig();
  const { hooks, events, count } = await startHooks(config);
  try {
    await pause(200);
    await admin.xgroup('DESTROY', keys.done, webhookGroup('app'));
    await waitFor('made again', async () => ((await admin.xinfo('GROUPS', keys.done)) as unknown[]).length === 1);
    assert.is(events('webhook.group_recreated').length, 1);
    const said = events('webhook.read_error');
    assert.ok(said.length >= 1);
    assert.is(said[0]!.level, 'error');
    assert.is(said[0]!.cause, 'nogroup');
    assert.is(said[0]!.stream, keys.done);
    await recordCompletions(admin, keys, stored('g1'), { maxLen: 1000, statusTtlMs: 60_000 });
    await waitFor('delivered', () => count('webhooks.delivered') === 1);
  } finally {
    await hooks.stop();
    await close();
  }
});

/** Completion g0 recorded and delivered; the fields of a completion like it for record `key`, as the store writes them. */
async function afterOneDelivered(admin: Redis, keys: Keys, delivered: () => number, key: string): Promise<string[]> {
  await recordCompletions(admin, keys, stored('g0'), { maxLen: 1000, statusTtlMs: 60_000 });
  await waitFor('g0 delivered', () => delivered() === 1);
  const [[, fields]] = (await admin.xrange(keys.done, '-', '+', 'COUNT', 1)) as [[string, string[]]];
  assert.is(fields[0], FIELD_KEY, 'the record key is the first field');
  return [FIELD_KEY, key, ...fields.slice(2)];
}

test('completions added while the group was gone are sent: the group is made again where the reader had got to, not at the end', async () => {
  const { admin, config, keys, close } = await rig();
  const { hooks, events, count } = await startHooks(config);
  try {
    const fields = await afterOneDelivered(admin, keys, () => count('webhooks.delivered'), 'g1');
    // One step: the reader cannot make the group again between the delete and the completion.
    await admin
      .multi()
      .xgroup('DESTROY', keys.done, webhookGroup('app'))
      .xadd(keys.done, '*', ...fields)
      .exec();
    await waitFor('g1 delivered', () => count('webhooks.delivered') === 2);
    const [made] = events('webhook.group_recreated');
    assert.is(made!.from, 'position');
    assert.is(made!.position, (await admin.xrange(keys.done, '-', '+'))[0]![0], "g0's id");
  } finally {
    await hooks.stop();
    await close();
  }
});

test("the stream made anew below the reader's position (Redis lost its data): the group is made at its start and what is in it is sent", async () => {
  const { admin, config, keys, close } = await rig();
  const { hooks, events, count } = await startHooks(config);
  try {
    const fields = await afterOneDelivered(admin, keys, () => count('webhooks.delivered'), 'g2');
    await admin
      .multi()
      .del(keys.done)
      .xadd(keys.done, '1-1', ...fields)
      .exec();
    await waitFor('g2 delivered', () => count('webhooks.delivered') === 2);
    assert.is(events('webhook.group_recreated')[0]!.from, 'start');
  } finally {
    await hooks.stop();
    await close();
  }
});

test.run();
