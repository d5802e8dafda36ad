/**
 * `pipeline webhooks dlq list|redeliver|purge` on dead letters made by the real reader (a receiver
 * answering 400): listed with their webhook, event id and key; redelivered to the URL of the current
 * config, signed, with the original event id, deleted on a 2xx and kept (exit 1, the answer printed)
 * on a 500 or when the webhook left the config; `--webhook` filters; purge deletes; 2 shards.
 */
import { readFileSync, rmSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import type { PipelineConfig, ResolvedConfig } from '../../lib/config/types.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { memoryMetrics } from '../../lib/observe/metrics.js';
import { aclUsers, applyAcl } from '../../lib/ops/acl.js';
import { EXIT_CODES } from '../../lib/redis/diagnose.js';
import { Keys } from '../../lib/redis/keys.js';
import { Shards } from '../../lib/redis/shard.js';
import { recordCompletions } from '../../lib/stream/done.js';
import { selectWebhookDeadLetters } from '../../lib/webhooks/dlq.js';
import { redeliverWebhookDeadLetters } from '../../lib/webhooks/redeliver.js';
import { Webhooks } from '../../lib/webhooks/runner.js';
import { stageDataAccess } from '../../stages/access.js';
import { cli, exited, FAST, writeConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';
import { receiver, verify, type Received } from '../helpers/webhook-receiver.js';

const { server, redis } = await redisForFile(test);
const SECRET = 'dlq-secret';
const HOOK = { secretEnv: 'HOOK_SECRET', timeoutMs: 2_000, backoffBaseMs: 20, backoffMaxMs: 100, blockMs: 50, claimMinIdleMs: 2_500, checkIntervalMs: 100 };

const configFor = (pipeline: string, hooks: Record<string, unknown>[], shards = 1): ResolvedConfig =>
  resolveConfig(
    {
      pipeline,
      shards,
      stages: [{ name: 'store', kind: 'store', input: 'in' }],
      routes: {},
      webhooks: hooks.map((h) => ({ ...HOOK, ...h })),
    } as PipelineConfig,
    'test',
    { env: { REDIS_URL: server.url } },
  );

/** Dead letters the way they are made: the real reader POSTs `keys` to a receiver answering 400. */
async function deadLetter(config: ResolvedConfig, keys: string[]): Promise<void> {
  const metrics = memoryMetrics();
  const hooks = new Webhooks({ config, secrets: new Map(config.webhooks.map((h) => [h.name, SECRET])), logger: silentLogger, metrics });
  await hooks.ready().catch(async (err: unknown) => {
    await hooks.stop(); // its connections are open, and the caller gets no handle to close them
    throw err;
  });
  hooks.start();
  try {
    const space = new Shards(config.pipeline, config.shards);
    await recordCompletions(
      redis,
      config.shards > 1 ? space : space.all[0]!,
      keys.map((key) => ({ key, status: 'stored', stage: 'store' })),
      {
        maxLen: 1000,
        statusTtlMs: 60_000,
      },
    );
    const want = keys.length * config.webhooks.length;
    const dead = () => metrics.records.filter((r) => r.name === 'webhooks.dead_lettered').reduce((a, r) => a + r.value, 0);
    await waitFor(`${want} dead-lettered`, () => dead() === want);
  } finally {
    await hooks.stop();
  }
}

/** `pipeline webhooks dlq <args>` with the config file and the secret in its environment: exit code and output. */
async function dlqCli(file: string, args: string[], url = server.url): Promise<{ code: number | null; out: string }> {
  process.env.HOOK_SECRET = SECRET;
  const child = cli(['--config', file, 'webhooks', 'dlq', ...args], url);
  delete process.env.HOOK_SECRET;
  const code = await exited(child);
  return { code, out: child.output() };
}

const eventId = (r: Received) => String(r.headers['x-pipeline-event-id']);
const bodyKey = (r: Received) => (JSON.parse(r.body) as { key: string }).key;

test('list, redeliver (500: kept, exit 1; 200: sent once, signed, original event id, deleted), a webhook gone from the config, --webhook, purge: via the CLI', async () => {
  const refusing = await receiver(() => 400);
  const fixed = await receiver(() => 500);
  const pipeline = randomPipeline('whd');
  const keys = new Keys(pipeline);
  try {
    await deadLetter(
      configFor(pipeline, [
        { name: 'app', url: refusing.url },
        { name: 'crm', url: refusing.url },
      ]),
      ['k1', 'k2'],
    );
    const original = new Map(refusing.received.map((r) => [`${bodyKey(r)}`, eventId(r)]));
    assert.is(await redis.xlen(keys.webhooksDlq), 4);
    // The receivers are fixed at a new URL: the current config's is the one used.
    const file = writeConfig(pipeline, FAST, {
      webhooks: [
        { ...HOOK, name: 'app', url: fixed.url },
        { ...HOOK, name: 'crm', url: fixed.url },
      ],
    });

    const list = await dlqCli(file, ['list']);
    assert.is(list.code, 0, list.out);
    const lines = list.out.split('\n').filter((l) => /^\d+-\d+ /.test(l));
    assert.is(lines.length, 4, list.out);
    assert.ok(
      lines.some((l) => l.includes(' app ') && l.includes(` ${original.get('k1')} `) && l.includes(' k1 ') && l.includes(' refused ') && l.includes(' 400 ')),
      list.out,
    );
    assert.match(list.out, /4 webhook dead letters/);
    const json = await dlqCli(file, ['list', '--json', '--webhook', 'app']);
    const app = json.out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { id: string; webhook: string; key: string; eventId: string; attempts: number; status: number });
    assert.equal(app.map((e) => [e.webhook, e.key, e.eventId, e.attempts, e.status]).sort(), [
      ['app', 'k1', original.get('k1'), 1, 400],
      ['app', 'k2', original.get('k2'), 1, 400],
    ]);

    const failing = await dlqCli(file, ['redeliver', '--all', '--webhook', 'app']);
    assert.is(failing.code, 1, failing.out);
    assert.match(failing.out, /not delivered: HTTP 500/);
    assert.match(failing.out, /redelivered: 0/);
    assert.is(fixed.received.length, 2);
    assert.is(await redis.xlen(keys.webhooksDlq), 4, 'a 500 leaves the entries');

    fixed.received.length = 0;
    fixed.answer = () => 200;
    const one = await dlqCli(file, ['redeliver', '--id', app[0]!.id]);
    assert.is(one.code, 0, one.out);
    assert.match(one.out, /redelivered: 1/);
    assert.is(fixed.received.length, 1);
    const ok = await dlqCli(file, ['redeliver', '--all', '--webhook', 'app']);
    assert.is(ok.code, 0, ok.out);
    assert.is(fixed.received.length, 2, 'each sent once');
    for (const r of fixed.received) {
      assert.ok(verify(SECRET, r), 'signed with the secret');
      assert.is(eventId(r), original.get(bodyKey(r)), 'the original event id');
    }
    assert.equal(fixed.received.map(bodyKey).sort(), ['k1', 'k2']);
    const left = await redis.xrange(keys.webhooksDlq, '-', '+');
    assert.equal(
      left.map(([, f]) => f[1]),
      ['crm', 'crm'],
      "app's entries deleted, crm's left",
    );

    // crm removed from the config: its entries stay, reported.
    const without = writeConfig(pipeline, FAST, { webhooks: [{ ...HOOK, name: 'app', url: fixed.url }] });
    const gone = await dlqCli(without, ['redeliver', '--all']);
    assert.is(gone.code, 1, gone.out);
    assert.match(gone.out, /webhook "crm" is not in the config/);
    assert.is(await redis.xlen(keys.webhooksDlq), 2);
    assert.is(fixed.received.length, 2, 'nothing sent for a webhook not in the config');

    const purgeOther = await dlqCli(file, ['purge', '--all', '--webhook', 'app']);
    assert.match(purgeOther.out, /purged: 0/);
    const purged = await dlqCli(file, ['purge', '--all', '--webhook', 'crm']);
    assert.is(purged.code, 0, purged.out);
    assert.match(purged.out, /purged: 2/);
    assert.is(await redis.xlen(keys.webhooksDlq), 0);
  } finally {
    await refusing.close();
    await fixed.close();
  }
});

test("redeliver --id with ids not in the webhook DLQ (unknown, another webhook's under --webhook): each named on stderr, exit 1; the known one still sent and deleted", async () => {
  const rx = await receiver(() => 400);
  const pipeline = randomPipeline('whd');
  const keys = new Keys(pipeline);
  try {
    await deadLetter(
      configFor(pipeline, [
        { name: 'app', url: rx.url },
        { name: 'crm', url: rx.url },
      ]),
      ['u1'],
    );
    const ids = new Map((await redis.xrange(keys.webhooksDlq, '-', '+')).map(([id, f]) => [f[1]!, id]));
    rx.received.length = 0;
    rx.answer = () => 200;
    const file = writeConfig(pipeline, FAST, { webhooks: ['app', 'crm'].map((name) => ({ ...HOOK, name, url: rx.url })) });
    const r = await dlqCli(file, ['redeliver', '--webhook', 'app', '--id', ids.get('app')!, '--id', '1-1', '--id', ids.get('crm')!]);
    assert.is(r.code, 1, r.out);
    assert.match(r.out, /^1-1: not in the webhook DLQ/m);
    assert.match(r.out, new RegExp(`^${ids.get('crm')!}: not in the webhook DLQ`, 'm'));
    assert.match(r.out, /^redelivered: 1$/m);
    assert.match(r.out, /^not found: 2$/m);
    assert.equal(rx.received.map(bodyKey), ['u1'], 'the known one sent once');
    assert.equal(
      (await redis.xrange(keys.webhooksDlq, '-', '+')).map(([id]) => id),
      [ids.get('crm')],
      "app's deleted, crm's left",
    );
  } finally {
    await rx.close();
  }
});

test('sharded (2 shards): list names <shard>/<id> from both shards; redeliver sends each with its <shard>/<id> event id and empties both; purge by <shard>/<id>', async () => {
  const refusing = await receiver(() => 400);
  const fixed = await receiver(() => 200);
  const pipeline = randomPipeline('whds');
  const shards = new Shards(pipeline, 2);
  const keys = Array.from({ length: 8 }, (_, i) => `s${i}`);
  try {
    await deadLetter(configFor(pipeline, [{ name: 'app', url: refusing.url }], 2), keys);
    const lens = await Promise.all(shards.all.map((k) => redis.xlen(k.webhooksDlq)));
    assert.ok(
      lens.every((n) => n > 0),
      `dead letters on both shards: ${lens.join(', ')}`,
    );
    const file = writeConfig(pipeline, FAST, { shards: 2, webhooks: [{ ...HOOK, name: 'app', url: fixed.url }] });

    const list = await dlqCli(file, ['list', '--json']);
    const listed = list.out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { id: string; eventId: string });
    assert.is(listed.length, 8, list.out);
    assert.equal(new Set(listed.map((e) => e.id.split('/')[0])), new Set(['0', '1']));
    assert.ok(
      listed.every((e) => e.id.split('/')[0] === e.eventId.split('/')[0]),
      'an entry sits on the shard of its completion',
    );

    const [purgeOne, ...rest] = listed;
    const purged = await dlqCli(file, ['purge', '--id', purgeOne!.id]);
    assert.match(purged.out, /purged: 1/);
    const again = await dlqCli(file, ['purge', '--id', purgeOne!.id]);
    assert.is(again.code, 1, 'an id not in the DLQ: not done, so not exit 0');
    assert.match(again.out, /purged: 0/);
    assert.match(again.out, /not found: 1/);
    assert.ok(again.out.includes(`${purgeOne!.id}: not in the webhook DLQ`), again.out);

    const r = await dlqCli(file, ['redeliver', '--all']);
    assert.is(r.code, 0, r.out);
    assert.match(r.out, /redelivered: 7/);
    assert.equal(fixed.received.map(eventId).sort(), rest.map((e) => e.eventId).sort());
    assert.ok(fixed.received.every((x) => verify(SECRET, x)));
    assert.equal(await Promise.all(shards.all.map((k) => redis.xlen(k.webhooksDlq))), [0, 0]);
  } finally {
    await refusing.close();
    await fixed.close();
  }
});

test('redeliver in process: at most `concurrency` requests at once; a receiver that does not answer within timeoutMs leaves the entry, with why', async () => {
  let inFlight = 0;
  let most = 0;
  const refusing = await receiver(() => 400);
  const pipeline = randomPipeline('whdc');
  const keys = new Keys(pipeline);
  try {
    await deadLetter(configFor(pipeline, [{ name: 'app', url: refusing.url }]), ['c1', 'c2', 'c3', 'c4', 'c5']);
    const entries = await selectWebhookDeadLetters(redis, keys, { all: true });
    const { createServer } = await import('node:http');
    const hold = createServer((req, res) => {
      inFlight++;
      most = Math.max(most, inFlight);
      req.resume();
      // c5 never gets an answer (the timeout); the others after 100 ms.
      req.on('end', () => {
        if (req.headers['x-pipeline-event-id'] === entries[4]!.eventId) return;
        setTimeout(() => {
          inFlight--;
          res.end('ok');
        }, 100);
      });
    });
    await new Promise<void>((res) => hold.listen(0, '127.0.0.1', () => res()));
    const url = `http://127.0.0.1:${(hold.address() as { port: number }).port}/hook`;
    const hooks = configFor(pipeline, [{ name: 'app', url, concurrency: 2, timeoutMs: 500 }]).webhooks;
    const r = await redeliverWebhookDeadLetters({ redis, keys, hooks, secret: () => SECRET, logger: silentLogger, metrics: memoryMetrics() }, entries);
    hold.closeAllConnections();
    hold.close();
    assert.is(r.delivered.length, 4);
    assert.is(r.failed.length, 1);
    assert.match(r.failed[0]!.why, /no answer within 500 ms/);
    assert.ok(most <= 2, `at most 2 at once, saw ${most}`);
    assert.is(await redis.xlen(keys.webhooksDlq), 1);
  } finally {
    await refusing.close();
  }
});

test('redeliver and purge as the observer or the webhooks user: exit 13 saying to run them as the admin, nothing sent or deleted; list as the observer works', async () => {
  const refusing = await receiver(() => 400);
  const fixed = await receiver(() => 200);
  const pipeline = randomPipeline('whda');
  const keys = new Keys(pipeline);
  const file = writeConfig(pipeline, FAST, { webhooks: [{ ...HOOK, name: 'app', url: fixed.url }] });
  try {
    await deadLetter(configFor(pipeline, [{ name: 'app', url: refusing.url }]), ['a1']);
    const config = resolveConfig(JSON.parse(readFileSync(file, 'utf8')) as PipelineConfig, file, { env: { REDIS_URL: server.url } });
    const users = aclUsers(config, { dataAccess: stageDataAccess });
    await applyAcl(redis, users);
    const observer = users.find((u) => u.role === 'observer')!;
    const list = await dlqCli(file, ['list'], observer.url);
    assert.is(list.code, 0, list.out);
    assert.match(list.out, /1 webhook dead letters/);
    for (const user of [observer, users.find((u) => u.role === 'webhooks')!])
      for (const args of [
        ['redeliver', '--all'],
        ['purge', '--all'],
      ]) {
        const run = await dlqCli(file, args, user.url);
        assert.is(run.code, EXIT_CODES.noperm, run.out);
        assert.match(run.out, new RegExp(`Redis user ${user.name} may not run .*\`pipeline webhooks dlq ${args[0]}\`.*run it as the admin`));
      }
    assert.is(fixed.received.length, 0, 'nothing sent');
    assert.is(await redis.xlen(keys.webhooksDlq), 1, 'nothing deleted');
  } finally {
    rmSync(file, { force: true });
    await refusing.close();
    await fixed.close();
  }
});

test.run();
