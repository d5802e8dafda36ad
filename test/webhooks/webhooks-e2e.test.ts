/**
 * Webhooks around the pipeline: the config's `webhooks` section checked field by field; `pipeline
 * webhooks` as a command (a missing secret named at start; a running one delivers and stops on
 * SIGTERM); records produced through real workers reaching the receiver once each, stored; a
 * sharded pipeline's completions from every shard, with the shard in the event id.
 */
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError } from '../../lib/core/errors.js';
import { resolveConfig } from '../../lib/config/load.js';
import type { PipelineConfig, ResolvedConfig } from '../../lib/config/types.js';
import { webhookSecrets } from '../../lib/config/webhooks.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { memoryMetrics } from '../../lib/observe/metrics.js';
import { Keys } from '../../lib/redis/keys.js';
import { Shards } from '../../lib/redis/shard.js';
import { recordCompletions } from '../../lib/stream/done.js';
import { Webhooks } from '../../lib/webhooks/runner.js';
import { cli, exited, FAST, startWorkers, stopAll, writeConfig } from '../helpers/pipeline.js';
import { produceItems } from '../helpers/outage-records.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';
import { receiver, verify } from '../helpers/webhook-receiver.js';

const { server, redis } = await redisForFile(test);
const RAW = JSON.parse(readFileSync(new URL('../../config/rules-only.json', import.meta.url), 'utf8')) as PipelineConfig;
const HOOK = { name: 'app', url: 'http://127.0.0.1:9/hook', secretEnv: 'HOOK_SECRET', blockMs: 50, checkIntervalMs: 100 };

const configWith = (webhooks: unknown, extra: Partial<PipelineConfig> = {}): ResolvedConfig =>
  resolveConfig({ ...RAW, defaults: FAST, ...extra, webhooks } as PipelineConfig, 'test', { env: { REDIS_URL: server.url } });

/** The ConfigError of `webhooks` as a config, or undefined when it loads. */
function configError(webhooks: unknown): ConfigError | undefined {
  try {
    configWith(webhooks);
    return undefined;
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
}

test('config errors name the field: bad URL, unknown event, unknown key, bad secretEnv, duplicate name, claimMinIdleMs too low; defaults filled in', () => {
  const cases: [unknown, string, RegExp][] = [
    [[{ ...HOOK, url: 'not a url' }], 'webhooks[0].url', /http:\/\/ or https:\/\//],
    [[{ ...HOOK, url: 'ftp://x/y' }], 'webhooks[0].url', /http/],
    [[{ ...HOOK, events: ['stored', 'shipped'] }], 'webhooks[0].events', /unknown event "shipped"/],
    [[{ ...HOOK, events: [] }], 'webhooks[0].events', /non-empty/],
    [[{ ...HOOK, secret: 'x' }], 'webhooks[0].secret', /unknown key/],
    [[{ ...HOOK, secretEnv: 'not-a-var' }], 'webhooks[0].secretEnv', /environment variable/],
    [[{ ...HOOK, secretEnv: 'REDIS_URL' }], 'webhooks[0].secretEnv', /the pipeline itself reads/],
    [[{ ...HOOK, secretEnv: 'PIPELINE_WEBHOOKS_REDIS_URL' }], 'webhooks[0].secretEnv', /the pipeline itself reads/],
    [[HOOK, { ...HOOK }], 'webhooks[1].name', /duplicate/],
    [[{ ...HOOK, timeoutMs: 0 }], 'webhooks[0].timeoutMs', /integer/],
    [[{ ...HOOK, claimMinIdleMs: 5_000, backoffMaxMs: 5_000 }], 'webhooks[0].claimMinIdleMs', /backoffMaxMs \+ timeoutMs/],
    [{ name: 'x' }, 'webhooks', /array/],
  ];
  for (const [hooks, where, why] of cases) {
    const err = configError(hooks);
    assert.ok(err, `${JSON.stringify(hooks)} refused`);
    assert.is(err.where, where);
    assert.match(err.reason, why);
  }
  const [h] = configWith([HOOK]).webhooks;
  assert.equal(h!.events, ['stored', 'review', 'dead_lettered', 'revoked']);
  assert.equal([h!.timeoutMs, h!.maxAttempts, h!.backoffBaseMs, h!.backoffMaxMs, h!.concurrency], [10_000, 8, 1_000, 60_000, 4]);
  assert.equal(configWith(undefined).webhooks, []);
  // The secret is read at the start of `pipeline webhooks` only.
  assert.throws(
    () => webhookSecrets(configWith([HOOK]).webhooks, {}),
    (e: ConfigError) => e.where === 'webhooks[0].secretEnv' && /HOOK_SECRET/.test(e.reason),
  );
  assert.is(webhookSecrets(configWith([HOOK]).webhooks, { HOOK_SECRET: 'k' }).get('app'), 'k');
});

test('`pipeline webhooks`: a missing secret is a config error naming secretEnv; with it, records through real workers reach the receiver once each, signed; SIGTERM stops it', async () => {
  const rx = await receiver();
  const pipeline = randomPipeline('whe');
  const file = writeConfig(pipeline, FAST, { webhooks: [{ ...HOOK, url: rx.url }] });
  const refused = cli(['--config', file, 'webhooks'], server.url);
  assert.is.not(await exited(refused), 0);
  assert.match(refused.output(), /webhooks\[0\]\.secretEnv.*HOOK_SECRET is not set/);

  process.env.HOOK_SECRET = 'e2e-secret';
  const child = cli(['--config', file, 'webhooks'], server.url);
  delete process.env.HOOK_SECRET;
  const config = configWith([{ ...HOOK, url: rx.url }], { pipeline });
  const keys = new Keys(pipeline);
  const workers = startWorkers(config);
  try {
    await waitFor('webhooks started', () => child.output().includes('"event":"webhooks.started"'));
    await produceItems(server.url, keys, 0, 30);
    await waitFor('30 completions delivered', () => rx.received.length >= 30, 30_000);
    await new Promise((r) => setTimeout(r, 300));
    const got = rx.received.map((r) => JSON.parse(r.body) as { key: string; status: string });
    assert.is(got.length, 30, 'once each');
    assert.equal(new Set(got.map((g) => g.key)).size, 30);
    assert.ok(got.every((g) => g.status === 'stored'));
    assert.ok(rx.received.every((r) => verify('e2e-secret', r)));
    child.kill('SIGTERM');
    assert.is(await exited(child), 0);
  } finally {
    child.kill('SIGKILL');
    await stopAll(workers);
    await rx.close();
  }
});

test("sharded: every shard's {p:N}:done is followed, the event id is <shard>/<entry id> and the body names the shard", async () => {
  const rx = await receiver();
  const config = configWith([{ ...HOOK, url: rx.url }], { pipeline: randomPipeline('whs'), shards: 3 });
  const shards = new Shards(config.pipeline, 3);
  const hooks = new Webhooks({ config, secrets: new Map([['app', 'k']]), logger: silentLogger, metrics: memoryMetrics() });
  await hooks.ready().catch(async (err: unknown) => {
    await hooks.stop(); // the try below has not begun: left open, they would hold the process
    await rx.close();
    throw err;
  });
  hooks.start();
  try {
    const keys = Array.from({ length: 30 }, (_, i) => `s${i}`);
    await recordCompletions(
      redis,
      shards,
      keys.map((key) => ({ key, status: 'stored', stage: 'store' })),
      { maxLen: 1000, statusTtlMs: 60_000 },
    );
    await waitFor('30 delivered', () => rx.received.length >= 30);
    const seen = new Set<number>();
    for (const r of rx.received) {
      const body = JSON.parse(r.body) as { key: string; id: string; shard: number };
      assert.is(body.shard, shards.shardOf(body.key));
      assert.is(r.headers['x-pipeline-event-id'], `${body.shard}/${body.id}`);
      seen.add(body.shard);
    }
    assert.equal([...seen].sort(), [0, 1, 2]);
    assert.is(new Set(rx.received.map((r) => r.headers['x-pipeline-event-id'])).size, 30);
  } finally {
    await hooks.stop();
    await rx.close();
  }
});

test.run();
