/**
 * `pipeline webhooks` (lib/webhooks/) on a real Redis and a real HTTP receiver: each completion
 * POSTed once with a valid signature; 500 then 200 retried and acked once; a 400 dead-lettered
 * with its status; a receiver down held (no spinning, the group's lag grows) and delivered to when
 * it is back; a crashed consumer's entries claimed by another; the stream trimmed past a lagging
 * group counted as missed, an entry trimmed while in retry still sent, and a short counter on a group
 * past the gap not taken for one.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { createLogger } from '../../lib/observe/logger.js';
import { memoryMetrics } from '../../lib/observe/metrics.js';
import { Keys } from '../../lib/redis/keys.js';
import { recordCompletions, type Completion } from '../../lib/stream/done.js';
import { checkMissed } from '../../lib/webhooks/missed.js';
import { webhookGroup } from '../../lib/webhooks/reader.js';
import { Webhooks } from '../../lib/webhooks/runner.js';
import { statusOutput } from '../../scripts/commands/status.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';
import { closedPort, receiver, verify, type Answer, type Received } from '../helpers/webhook-receiver.js';

const { server, redis } = await redisForFile(test);
const SECRET = 's3cret';
/**
 * Timers shrunk: retries in tens of ms, a crashed consumer's entries claimable after 2.5 s. The
 * request timeout stays long: on a loaded machine a 150 ms one had cut answers the receiver was
 * about to send, and the retries (at least once, as designed) made "once each" flaky.
 */
const FAST_HOOK = { timeoutMs: 2_000, backoffBaseMs: 20, backoffMaxMs: 100, blockMs: 50, claimMinIdleMs: 2_500, checkIntervalMs: 100 };

function configFor(pipeline: string, hooks: Record<string, unknown>[], doneMaxLen = 1000): ResolvedConfig {
  return resolveConfig(
    {
      pipeline,
      limits: { doneMaxLen },
      stages: [{ name: 'store', kind: 'store', input: 'in' }],
      routes: {},
      webhooks: hooks.map((h) => ({ name: 'app', secretEnv: 'HOOK_SECRET', ...FAST_HOOK, ...h })),
    },
    'test',
    { env: { REDIS_URL: server.url } },
  );
}

/** A running `pipeline webhooks` in this process, its log lines and metrics kept. */
async function startHooks(config: ResolvedConfig, consumer?: string) {
  const logs: string[] = [];
  const metrics = memoryMetrics();
  const secrets = new Map(config.webhooks.map((h) => [h.name, SECRET]));
  const hooks = new Webhooks({ config, secrets, logger: createLogger({}, 'info', (l) => logs.push(l)), metrics, ...(consumer ? { consumer } : {}) });
  await hooks.ready().catch(async (err: unknown) => {
    await hooks.stop(); // its connections are open, and the caller gets no handle to close them
    throw err;
  });
  hooks.start();
  const count = (name: string) => metrics.records.filter((r) => r.name === name).reduce((a, r) => a + r.value, 0);
  return { hooks, logs, metrics, count };
}

const complete = (keys: Keys, list: Completion[], maxLen = 1000) => recordCompletions(redis, keys, list, { maxLen, statusTtlMs: 60_000 });
const stored = (key: string): Completion => ({ key, status: 'stored', stage: 'store' });
const pending = async (keys: Keys, name = 'app') => ((await redis.xpending(keys.done, webhookGroup(name))) as [number])[0];
const answers =
  (...list: Answer[]) =>
  (n: number): Answer =>
    list[Math.min(n, list.length - 1)]!;
const bodies = (rs: Received[]) => rs.map((r) => JSON.parse(r.body) as Record<string, unknown>);

test('each completion is POSTed once, signed, with its event id and the SSE completion fields; a webhook gets only its events; all acked', async () => {
  const rx = await receiver();
  const only = await receiver();
  const config = configFor(randomPipeline('wh'), [{ url: rx.url }, { name: 'stored-only', url: only.url, events: ['stored'] }]);
  const keys = new Keys(config.pipeline);
  const { hooks, logs, count } = await startHooks(config);
  try {
    await complete(keys, [stored('a1'), { key: 'a2', status: 'review', stage: 'validate', reason: 'review' }]);
    await complete(keys, [{ key: 'a3', status: 'dead_lettered', stage: 'validate', reason: 'permanent_error', error: 'bad gtin' }]);
    await complete(keys, [{ key: 'a4', status: 'revoked', stage: 'preprocess', by: 'cli:ann', reason: 'withdrawn' }]);
    await waitFor('4 deliveries', () => rx.received.length >= 4 && only.received.length >= 1);
    await new Promise((r) => setTimeout(r, 300)); // nothing more comes
    assert.is(rx.received.length, 4, 'once each');
    assert.equal(
      bodies(rx.received).map((b) => [b.key, b.status]),
      [
        ['a1', 'stored'],
        ['a2', 'review'],
        ['a3', 'dead_lettered'],
        ['a4', 'revoked'],
      ],
    );
    assert.equal(
      bodies(only.received).map((b) => b.key),
      ['a1'],
    );
    const ids = (await redis.xrange(keys.done, '-', '+')).map(([id]) => id);
    for (const [i, r] of rx.received.entries()) {
      assert.ok(verify(SECRET, r), 'signature verifies');
      assert.ok(!verify('other', r), 'not with another secret');
      assert.is(r.headers['content-type'], 'application/json');
      assert.is(r.headers['x-pipeline-event-id'], ids[i], 'event id: the done entry id');
      assert.is((JSON.parse(r.body) as { id: string }).id, ids[i]);
      assert.ok(Math.abs(Number(r.headers['x-pipeline-timestamp']) - Date.now() / 1000) < 60);
    }
    assert.equal(Object.keys(bodies(rx.received)[2]!).sort(), ['at', 'error', 'id', 'key', 'reason', 'stage', 'status']);
    assert.equal([bodies(rx.received)[3]!.by, bodies(rx.received)[3]!.reason], ['cli:ann', 'withdrawn'], 'a revoke says who and why');
    await waitFor('acked', async () => (await pending(keys)) === 0 && (await pending(keys, 'stored-only')) === 0);
    assert.is(count('webhooks.delivered'), 5);
    assert.ok(logs.some((l) => l.includes('"event":"webhook.delivered"') && l.includes('"webhook":"app"') && l.includes(`"event_id":"${ids[0]}"`)));
    await hooks.stop();
    assert.equal(await redis.xinfo('CONSUMERS', keys.done, webhookGroup('app')), [], 'a graceful stop leaves the group');
  } finally {
    await hooks.stop();
    await rx.close();
    await only.close();
  }
});

test('500 then 200: retried after a backoff, delivered and acked once, nothing dead-lettered; Retry-After is honoured', async () => {
  const rx = await receiver(answers({ status: 500 }, { status: 429, headers: { 'retry-after': '1' } }, 200));
  // Backoff 20..40 ms for the first retries; the 429's Retry-After (1 s, within backoffMaxMs) wins.
  const config = configFor(randomPipeline('wh'), [{ url: rx.url, backoffMaxMs: 2_000, claimMinIdleMs: 5_000 }]);
  const keys = new Keys(config.pipeline);
  const { hooks, count, logs } = await startHooks(config);
  try {
    await complete(keys, [stored('b1')]);
    await waitFor('delivered', () => count('webhooks.delivered') === 1);
    assert.is(rx.received.length, 3);
    assert.is(new Set(rx.received.map((r) => r.headers['x-pipeline-event-id'])).size, 1, 'the same event id each time');
    assert.is(count('webhooks.retries'), 2);
    assert.is(await pending(keys), 0);
    assert.is(await redis.xlen(keys.webhooksDlq), 0);
    assert.ok(logs.some((l) => l.includes('"event":"webhook.retry"') && l.includes('"status":500')));
    assert.ok(logs.some((l) => l.includes('"event":"webhook.retry"') && l.includes('"status":429') && l.includes('"wait_ms":1000')));
    assert.ok(rx.received[1]!.at - rx.received[0]!.at < 500, 'the 500: a short backoff');
    assert.ok(rx.received[2]!.at - rx.received[1]!.at >= 950, 'the 429: Retry-After honoured');
  } finally {
    await hooks.stop();
    await rx.close();
  }
});

test('a 400 is dead-lettered at once with its status; attempts used up on 503 are dead-lettered too; both acked', async () => {
  const rx = await receiver((_, r) => (r.body.includes('"c1"') ? 400 : 503));
  const config = configFor(randomPipeline('wh'), [{ url: rx.url, maxAttempts: 3 }]);
  const keys = new Keys(config.pipeline);
  const { hooks, count, logs } = await startHooks(config);
  try {
    await complete(keys, [stored('c1'), stored('c2')]);
    await waitFor('both dead-lettered', () => count('webhooks.dead_lettered') === 2);
    const sent = (k: string) => rx.received.filter((r) => r.body.includes(`"${k}"`)).length;
    assert.is(sent('c1'), 1, 'a 400 is not retried');
    assert.is(sent('c2'), 3, 'maxAttempts');
    const dlq = (await redis.xrange(keys.webhooksDlq, '-', '+')).map(([, f]) =>
      Object.fromEntries(Array.from({ length: f.length / 2 }, (_, i) => [f[2 * i], f[2 * i + 1]])),
    );
    const c1 = dlq.find((d) => d.body!.includes('"c1"'))!;
    assert.is(c1.status, '400');
    assert.is(c1.reason, 'refused');
    assert.is(c1.webhook, 'app');
    assert.match(c1.error!, /HTTP 400/);
    const c2 = dlq.find((d) => d.body!.includes('"c2"'))!;
    assert.equal([c2.status, c2.reason, c2.attempts], ['503', 'attempts', '3']);
    assert.is(await pending(keys), 0);
    assert.ok(logs.some((l) => l.includes('"event":"webhook.dead_lettered"') && l.includes('"status":400')));
  } finally {
    await hooks.stop();
    await rx.close();
  }
});

test('a receiver down (connection refused) holds the reader: no spinning, the lag grows; back within the attempts, all is delivered, nothing dead-lettered', async () => {
  const port = await closedPort();
  const config = configFor(randomPipeline('wh'), [{ url: `http://127.0.0.1:${port}/hook`, maxAttempts: 50, concurrency: 1 }]);
  const keys = new Keys(config.pipeline);
  const { hooks, count } = await startHooks(config);
  let rx: Awaited<ReturnType<typeof receiver>> | undefined;
  try {
    await complete(keys, [stored('d1'), stored('d2'), stored('d3')]);
    await waitFor('retrying', () => count('webhooks.retries') >= 3);
    await new Promise((r) => setTimeout(r, 500));
    // Backoff, not a spin: 500 ms at 20..100 ms per wait is at most ~25 attempts.
    assert.ok(count('webhooks.retries') < 40, `retries ${count('webhooks.retries')}`);
    const groups = (await redis.xinfo('GROUPS', keys.done)) as unknown[][];
    const g = groups[0]!;
    assert.is(Number(g[g.indexOf('lag') + 1]), 2, 'd2 and d3 wait in Redis, unread');
    const { text } = await statusOutput(redis, config, true);
    assert.equal(
      (JSON.parse(text) as { webhooks: unknown }).webhooks,
      [{ name: 'app', lag: 2, pending: 1, consumers: 1, deadLetters: 0 }],
      'pipeline status shows it',
    );
    rx = await receiver(() => 200, port);
    await waitFor('all delivered', () => count('webhooks.delivered') === 3);
    assert.equal(
      bodies(rx.received).map((b) => b.key),
      ['d1', 'd2', 'd3'],
    );
    assert.is(await redis.xlen(keys.webhooksDlq), 0);
    assert.is(count('webhooks.dead_lettered'), 0);
  } finally {
    await hooks.stop();
    await rx?.close();
  }
});

test("a crashed consumer's pending entries are claimed by another process after claimMinIdleMs and delivered", async () => {
  const rx = await receiver();
  const config = configFor(randomPipeline('wh'), [{ url: rx.url }]);
  const keys = new Keys(config.pipeline);
  await redis.xgroup('CREATE', keys.done, webhookGroup('app'), '$', 'MKSTREAM', 'ENTRIESREAD', 0);
  await complete(keys, [stored('e1'), stored('e2')]);
  // A `pipeline webhooks` that read both and died before it POSTed them.
  await redis.xreadgroup('GROUP', webhookGroup('app'), 'crashed', 'COUNT', 10, 'STREAMS', keys.done, '>');
  const { hooks, count, logs } = await startHooks(config, 'survivor');
  try {
    await waitFor('reclaimed and delivered', () => count('webhooks.delivered') === 2, 10_000);
    assert.equal(
      bodies(rx.received).map((b) => b.key),
      ['e1', 'e2'],
    );
    assert.is(await pending(keys), 0);
    assert.ok(logs.some((l) => l.includes('"event":"webhook.reclaimed"')));
    const consumers = async () => ((await redis.xinfo('CONSUMERS', keys.done, webhookGroup('app'))) as unknown[][]).map((c) => String(c[1]));
    await waitFor('the crashed consumer removed', async () => !(await consumers()).includes('crashed'), 10_000);
  } finally {
    await hooks.stop();
    await rx.close();
  }
});

test('an entry trimmed from {p}:done while in retry is still delivered from the body in hand (before: dropped silently, neither sent, dead-lettered nor counted)', async () => {
  const rx = await receiver(answers(503, 200));
  // The first retry waits 1..2 s: time to trim the entry away while it is in hand.
  const config = configFor(randomPipeline('wh'), [{ url: rx.url, backoffBaseMs: 2_000, backoffMaxMs: 2_000, claimMinIdleMs: 5_000, concurrency: 1 }]);
  const keys = new Keys(config.pipeline);
  const { hooks, count, logs } = await startHooks(config);
  try {
    await complete(keys, [stored('t0')]);
    await waitFor('the first attempt answered 503', () => rx.received.length === 1 && count('webhooks.retries') === 1);
    await complete(keys, [stored('t1'), stored('t2'), stored('t3'), stored('t4')]);
    await redis.xtrim(keys.done, 'MAXLEN', 2); // t0 (in retry), t1 and t2 (never read) trimmed away
    await waitFor('t0 delivered, the trimmed unread ones counted', () => count('webhooks.delivered') >= 3 && count('webhooks.missed') === 2, 10_000);
    assert.equal(
      bodies(rx.received).map((b) => b.key),
      ['t0', 't0', 't3', 't4'],
    );
    assert.is(await pending(keys), 0);
    assert.ok(logs.some((l) => l.includes('"event":"webhook.trimmed_in_retry"')));
  } finally {
    await hooks.stop();
    await rx.close();
  }
});

test('{p}:done trimmed past a lagging group: the loss is detected, logged and counted once (webhooks.missed), the rest delivered', async () => {
  const rx = await receiver();
  const config = configFor(randomPipeline('wh'), [{ url: rx.url, concurrency: 50 }], 10);
  const keys = new Keys(config.pipeline);
  const first = await startHooks(config);
  await first.hooks.stop(); // the group exists; nobody reads it while 500 completions go by
  for (let i = 0; i < 5; i++)
    await complete(
      keys,
      Array.from({ length: 100 }, (_, j) => stored(`f${i * 100 + j}`)),
      10,
    );
  const kept = await redis.xlen(keys.done);
  assert.ok(kept < 500, `trimmed to ${kept}`);
  const two = [await startHooks(config), await startHooks(config)];
  try {
    await waitFor('rest delivered', () => rx.received.length >= kept);
    await new Promise((r) => setTimeout(r, 400)); // several checks by both processes
    const missed = two.reduce((a, h) => a + h.count('webhooks.missed'), 0);
    assert.is(missed, 500 - kept, 'every trimmed completion counted, once');
    assert.is(rx.received.length, kept);
    const line = two.flatMap((h) => h.logs).find((l) => l.includes('"event":"webhook.missed"'));
    assert.ok(line?.includes('"level":"error"') && line.includes('"exact":true'), line);
  } finally {
    for (const h of two) await h.hooks.stop();
    await rx.close();
  }
});

test('a short entries-read (as a failover leaves it) on a group past the first entry is no loss: the group is not moved back', async () => {
  const config = configFor(randomPipeline('wh'), [{ url: 'http://127.0.0.1:9/hook' }], 10);
  const keys = new Keys(config.pipeline);
  await redis.xgroup('CREATE', keys.done, webhookGroup('app'), '$', 'MKSTREAM', 'ENTRIESREAD', 0);
  await complete(
    keys,
    Array.from({ length: 300 }, (_, i) => stored(`g${i}`)),
    10,
  );
  const fifth = (await redis.xrange(keys.done, '-', '+', 'COUNT', 5)).map(([id]) => id)[4]!;
  // Read up to the fifth entry, with a counter that says far less was read.
  await redis.xgroup('SETID', keys.done, webhookGroup('app'), fifth, 'ENTRIESREAD', 10);
  const metrics = memoryMetrics();
  assert.is(await checkMissed(redis, keys.done, webhookGroup('app'), { hook: { name: 'app' }, logger: createLogger({}, 'error', () => {}), metrics }), 0);
  const g = ((await redis.xinfo('GROUPS', keys.done)) as unknown[][])[0]!;
  assert.is(String(g[g.indexOf('last-delivered-id') + 1]), fifth, 'not moved back');
  assert.is(metrics.records.length, 0);
});

test.run();
