/**
 * The generated ACL rules and what each user may do: stage users write only their routes' targets,
 * the producer only the input, the store user its upserts; `pipeline acl --apply --write-env` for a
 * worker child. The pipeline end to end on these users: test/ops/acl-e2e.test.ts.
 */
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { aclUsers, applyAcl, formatSetUser } from '../../lib/ops/acl.js';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { Backpressure } from '../../lib/producer/backpressure.js';
import { Keys } from '../../lib/redis/keys.js';
import { Script } from '../../lib/redis/script.js';
import { dryRun } from '../../lib/redis/acl-dryrun.js';
import { stageProbes } from '../../lib/ops/acl-grants.js';
import { takeTokens, tokensUsed } from '../../lib/stream/rate-bucket.js';
import { Autoscaler } from '../../lib/ops/autoscaler.js';
import { createLogger } from '../../lib/observe/logger.js';
import { memoryMetrics } from '../../lib/observe/metrics.js';
import { stageDataAccess } from '../../stages/access.js';
import { STAGE_DEFAULTS } from '../../lib/config/defaults.js';
import { readGroupEntries } from '../../lib/stream/entries.js';
import { handOff } from '../../lib/stream/handoff.js';
import { consumerHandOffSource } from '../../lib/worker/batch-commit.js';
import { createRedisSink } from '../../stages/sinks/redis.js';
import { error, NOPERM } from '../helpers/acl.js';
import { BIN, cli, exited, rulesOnlyConfig, writeConfig } from '../helpers/pipeline.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';

const server = await startRedis();
const admin = client(server.url);
const opened: Redis[] = [];

/** A pipeline with its ACL users applied; `as(role or stage)` connects as that user. */
async function secured(config: ResolvedConfig) {
  const users = aclUsers(config, { dataAccess: stageDataAccess });
  await applyAcl(admin, users);
  const user = (who: string) => users.find((u) => u.stage === who || u.role === who)!;
  const as = (who: string) => {
    const r = new Redis(user(who).url, { maxRetriesPerRequest: 1, enableOfflineQueue: true });
    opened.push(r);
    return r;
  };
  return { users, user, as, keys: new Keys(config.pipeline) };
}

test('generated rules: one user per stage, XADD only to the stage routes, the DLQ, the log stream and the completion stream', () => {
  const config = rulesOnlyConfig(server.url, 'products');
  const users = aclUsers(config, { dataAccess: stageDataAccess, password: () => 'pw' });
  assert.equal(
    users.map((u) => u.name),
    ['products-preprocess', 'products-validate', 'products-store', 'products-producer', 'products-observer', 'products-api'],
  );
  const line = (stage: string) => formatSetUser(users.find((u) => u.stage === stage)!);
  assert.match(line('preprocess'), '"(%W~{products}:validate %W~{products}:store %W~{products}:dlq %W~{products}:logs %W~{products}:done +xadd)"');
  assert.match(line('validate'), '"(%W~{products}:store %W~{products}:dlq %W~{products}:logs %W~{products}:done +xadd)"');
  assert.match(line('store'), '"(%W~{products}:dlq %W~{products}:logs %W~{products}:done +xadd)"');
  assert.match(line('store'), '"(%W~{products}:status:* +set)"');
  assert.match(line('store'), '+hmget +hincrby +hset +hdel +sadd +srem)');
  for (const u of users) {
    assert.not.match(formatSetUser(u), 'pw ', 'the plain password never appears in the rules');
    assert.match(u.url, /^redis:\/\/products-[a-z]+:pw@127\.0\.0\.1:\d+$/);
  }
  assert.is(users[0]!.env, 'REDIS_URL_PREPROCESS');
});

test('a stage user cannot XADD to a stream outside its routes (NOPERM), not even from a script', async () => {
  const config = rulesOnlyConfig(server.url, randomPipeline());
  const { as, keys } = await secured(config);
  const validate = as('validate');
  assert.is(await error(validate.xadd(keys.stream('store'), '*', 'a', '1')), '', 'XADD to its route target');
  assert.is(await error(validate.xadd(keys.dlq, '*', 'a', '1')), '', 'XADD to the DLQ');
  assert.is(await error(validate.xadd(keys.extra('logs'), 'MAXLEN', '~', 100, '*', 'log', '{}')), '', 'XADD to the log stream (lib/observe/log-stream.ts)');
  assert.is(await error(validate.set(keys.liveness('validate', 'h-1-0'), '{}', 'PX', 1000)), '', 'its liveness marker (lib/worker/watchdog.ts)');
  assert.is(await error(validate.get(keys.liveness('validate', 'h-1-0'))), '', 'its liveness marker is readable (pipeline health runs as the stage user)');
  assert.match(await error(validate.get(keys.liveness('store', 'h-1-0'))), NOPERM, "another stage's liveness marker is not");
  assert.match(await error(validate.set(keys.liveness('store', 'h-1-0'), '{}', 'PX', 1000)), NOPERM, "another stage's liveness marker");
  const livenessFn = new Script('liveness-3').fn; // how the watchdog writes it (allow-oom), with its registration and alive key
  const beat = (stage: string) =>
    validate.fcall(
      livenessFn,
      3,
      keys.liveness(stage, 'h-1-0'),
      keys.livenessRegistration(stage, 'h-1-0'),
      keys.livenessAlive(stage, 'h-1-0'),
      '{}',
      1000,
      2000,
      1000,
    );
  assert.is(await error(beat('validate')), '', 'its liveness marker, registration and alive key through the function');
  assert.match(await error(beat('store')), NOPERM, "another stage's, through the function");
  // A hand-off keeps its reply in the consumer's hand-off memory, under its liveness keys (lib/lua/handoff-N.lua).
  const input = keys.stream('validate');
  await admin.xgroup('CREATE', input, 'validate', '0', 'MKSTREAM');
  await admin.xadd(input, '*', 'k', 'p1', 'e', 'v');
  const [read] = readGroupEntries(await validate.callBuffer('XREADGROUP', 'GROUP', 'validate', 'h-1-0', 'STREAMS', input, '>'));
  const source = consumerHandOffSource(keys, { ...STAGE_DEFAULTS, name: 'validate' }, input, 'validate', 'h-1-0');
  const handed = await handOff(validate, source, [{ id: read!.id, targets: [keys.stream('store')], fields: ['k', 'p1', 'e', 'v'] }]);
  assert.equal(handed.acked, [true], 'its hand-off, with its memory');
  assert.is(await admin.exists(keys.livenessHandOff('validate', 'h-1-0')), 1, 'the memory kept');
  // So does a claim, in the consumer's claim memory (lib/lua/claim-3.lua, as lib/worker/reclaimer.ts calls it).
  await admin.xadd(input, '*', 'k', 'p2', 'e', 'v');
  await admin.xreadgroup('GROUP', 'validate', 'gone', 'STREAMS', input, '>');
  const claimFn = new Script('claim-3').fn;
  const claimed = (await validate.fcall(
    claimFn,
    3,
    input,
    keys.fence('validate'),
    keys.livenessClaim('validate', 'h-1-0'),
    'validate',
    'h-1-0',
    0,
    '0-0',
    10,
    'tok',
    'JUSTID',
    60_000,
  )) as [string, string[]];
  assert.is(claimed[1].length, 1, 'its claim, with its memory');
  assert.is(await admin.exists(keys.livenessClaim('validate', 'h-1-0')), 1, 'the claim memory kept');
  for (const other of ['in', 'validate', 'review', 'elsewhere']) {
    assert.match(await error(validate.xadd(keys.stream(other), '*', 'a', '1')), NOPERM, `XADD to ${other}`);
  }
  const addFromScript = "return redis.call('XADD', KEYS[1], '*', 'a', '1')";
  assert.match(await error(validate.eval(addFromScript, 1, keys.stream('store'))), NOPERM, 'no EVAL of its own Lua, not even on its own keys');
  // The pipeline's own functions run under the same rules: produce-batch-2 XADDs to KEYS[1].
  const produceFn = new Script('produce-batch-2').fn;
  assert.match(
    await error(validate.fcall(produceFn, 2, keys.stream('in'), keys.stream('in') + ':producer:x', 0, '', 1000, 1, 'k', 'e')),
    NOPERM,
    'a pipeline function declaring a foreign key',
  );
  assert.match(
    await error(validate.fcall(produceFn, 2, keys.stream('validate'), keys.stream('validate') + ':producer:x', 0, '', 1000, 1, 'k', 'e')),
    NOPERM,
    'a pipeline function XADDing to its own input',
  );
  assert.is(await admin.xlen(keys.stream('in')), 0);
});

test("sharded (shards: 2): every rule names each shard's keys; a stage user writes its targets on both shards and nothing else", async () => {
  const config = { ...rulesOnlyConfig(server.url, randomPipeline()), shards: 2 };
  const { as, user } = await secured(config);
  const [s0, s1] = Keys.shards(config.pipeline, 2);
  assert.match(formatSetUser(user('validate')), `%W~${s0!.stream('store')} %W~${s1!.stream('store')}`);
  const validate = as('validate');
  const producer = as('producer');
  for (const k of [s0!, s1!]) {
    assert.is(await error(validate.xadd(k.stream('store'), '*', 'a', '1')), '', `XADD to ${k.stream('store')}`);
    assert.is(await error(validate.set(k.liveness('validate', 'h-1-0'), '{}', 'PX', 1000)), '', `its liveness marker on ${k.tag}`);
    assert.match(await error(validate.xadd(k.stream('in'), '*', 'a', '1')), NOPERM, `XADD to ${k.stream('in')}`);
    assert.is(await error(producer.xadd(k.stream(config.input), '*', 'a', '1')), '', `the producer adds to ${k.tag}'s input`);
  }
  assert.match(await error(validate.xadd(new Keys(config.pipeline).stream('store'), '*', 'a', '1')), NOPERM, 'the unsharded key is not granted');
});

test("a stage user cannot read another stage's stream, its targets or the store", async () => {
  const config = rulesOnlyConfig(server.url, randomPipeline());
  const { as, keys } = await secured(config);
  await admin.xgroup('CREATE', keys.stream('in'), 'preprocess', '0', 'MKSTREAM');
  await admin.xadd(keys.stream('in'), '*', 'a', '1');
  const validate = as('validate');
  assert.match(await error(validate.xreadgroup('GROUP', 'preprocess', 'c1', 'COUNT', 1, 'STREAMS', keys.stream('in'), '>')), NOPERM);
  assert.match(await error(validate.xrange(keys.stream('in'), '-', '+')), NOPERM);
  assert.match(await error(validate.xrange(keys.stream('store'), '-', '+')), NOPERM, 'targets are write-only');
  assert.match(await error(validate.hgetall(keys.product('x'))), NOPERM);
  assert.match(
    await error(validate.eval("return redis.call('XRANGE', KEYS[1], '-', '+')", 1, keys.stream('store'))),
    NOPERM,
    'nor through a script of its own',
  );
  const store = as('store');
  assert.match(await error(store.xrange(keys.stream('validate'), '-', '+')), NOPERM);
  assert.match(await error(store.del(keys.products)), NOPERM, 'store keys allow the upsert commands only');
  assert.is(await error(validate.xgroup('CREATE', keys.stream('validate'), 'validate', '0', 'MKSTREAM')), '', 'its own stream: allowed');
});

test("the paused flag (`pipeline pause`): a stage user reads its own and cannot set it nor read another stage's; the observer reads them all; the API user sets and clears them", async () => {
  const config = rulesOnlyConfig(server.url, randomPipeline());
  const { as, keys } = await secured(config);
  await admin.hset(keys.paused('validate'), 'by', 'admin', 'at', '1');
  const validate = as('validate');
  assert.equal(await validate.hgetall(keys.paused('validate')), { by: 'admin', at: '1' }, 'its own flag: read');
  assert.match(await error(validate.hset(keys.paused('validate'), 'by', 'me')), NOPERM, 'not written');
  assert.match(await error(validate.del(keys.paused('validate'))), NOPERM, 'not cleared');
  assert.match(await error(validate.hgetall(keys.paused('store'))), NOPERM, "another stage's: not read");
  assert.equal(await as('observer').hgetall(keys.paused('validate')), { by: 'admin', at: '1' });
  const api = as('api');
  assert.is(await error(api.hset(keys.paused('store'), 'by', 'api:alice', 'at', '2')), '');
  assert.is(await error(api.hdel(keys.paused('store'), 'reason')), '');
  assert.is(await error(api.del(keys.paused('store'))), '');
  assert.match(await error(api.del(keys.fence('store'))), NOPERM, 'nothing else');
});

test("a stage with a rateLimit: its user takes tokens from its own bucket (the function runs TIME, HMGET, HSET, PEXPIRE), not from another stage's; a stage without one has no bucket grant; its start self-check passes", async () => {
  const base = rulesOnlyConfig(server.url, randomPipeline());
  const config = { ...base, stages: base.stages.map((s) => (s.name === 'validate' ? { ...s, rateLimit: { records: 5, perMs: 1000 } } : s)) };
  const { as, keys, user } = await secured(config);
  const limit = { records: 5, perMs: 1000 };
  const validate = as('validate');
  assert.equal(await takeTokens(validate, keys.rateLimit('validate'), limit, 3), { granted: 3, waitMs: 0 });
  assert.match(await error(takeTokens(validate, keys.rateLimit('store'), limit, 3)), NOPERM, "another stage's bucket");
  assert.match(await error(takeTokens(as('preprocess'), keys.rateLimit('preprocess'), limit, 3)), NOPERM, 'no limit, no bucket');
  assert.match(formatSetUser(user('validate')), /\+time/);
  assert.not.match(formatSetUser(user('preprocess')), /\+time/);
  const stage = config.stages.find((s) => s.name === 'validate')!;
  assert.is(await dryRun(admin, user('validate').name, stageProbes(config, stage, stageDataAccess)), 'ok');
});

test("`pipeline up`'s autoscaler as the observer reads a rate-limited stage's bucket (HGET, no token taken) and may not take from it", async () => {
  const base = rulesOnlyConfig(server.url, randomPipeline());
  const scaled = { rateLimit: { records: 5, perMs: 1000 }, minWorkers: 1, maxWorkers: 2, scaleUpLag: 1 };
  const config = { ...base, stages: base.stages.map((s) => (s.name === 'validate' ? { ...s, ...scaled } : s)) };
  const { as, keys } = await secured(config);
  await takeTokens(as('validate'), keys.rateLimit('validate'), scaled.rateLimit, 3);
  await admin.xadd(keys.stream(config.stages.find((s) => s.name === 'validate')!.input), '*', 'k', 'k1', 'e', 'x');
  const observer = as('observer');
  assert.is(await tokensUsed(observer, keys.rateLimit('validate')), 3);
  assert.match(await error(takeTokens(observer, keys.rateLimit('validate'), scaled.rateLimit, 1)), NOPERM, 'read-only');
  const lines: string[] = [];
  const logger = createLogger({}, 'info', (l) => lines.push(l));
  const target = { count: () => 1, scale: () => {} };
  const autoscaler = new Autoscaler({ redis: observer, config, stages: ['validate'], target, logger, metrics: memoryMetrics(), now: () => 0 });
  await autoscaler.runOnce(); // the lag (1) is high: the pass reads the bucket
  assert.equal(
    lines.filter((l) => l.includes('autoscale.error')),
    [],
    'the pass ran as the observer',
  );
});

test('the producer user can only XADD to the input stream: no XREADGROUP, no reads, no other stream', async () => {
  const config = rulesOnlyConfig(server.url, randomPipeline());
  const { as, keys } = await secured(config);
  await admin.xgroup('CREATE', keys.stream('in'), 'preprocess', '0', 'MKSTREAM');
  const producer = as('producer');
  assert.is(await error(producer.xadd(keys.stream('in'), '*', 'a', '1')), '');
  assert.match(await error(producer.xreadgroup('GROUP', 'preprocess', 'c1', 'STREAMS', keys.stream('in'), '>')), NOPERM);
  assert.match(await error(producer.xrange(keys.stream('in'), '-', '+')), NOPERM);
  assert.match(await error(producer.eval("return redis.call('XRANGE', KEYS[1], '-', '+')", 1, keys.stream('in'))), NOPERM, 'nor through a script');
  assert.match(await error(producer.xadd(keys.stream('store'), '*', 'a', '1')), NOPERM);
  assert.match(await error(producer.call('KEYS', '*')), NOPERM);
  assert.match(await error(producer.flushall()), NOPERM);
  assert.match(await error(producer.call('ACL', 'WHOAMI')), NOPERM);
  // Backpressure readings (the input group's lag, Redis memory) are allowed: produce waits on them.
  const pressure = await Backpressure.forInput(producer, config, keys, 0).check();
  assert.equal([pressure.clear, pressure.lag], [true, 1], 'the one entry added above');
});

test('the store user runs the redis sink upsert, including moving a product between category sets (key built in the script)', async () => {
  const config = rulesOnlyConfig(server.url, randomPipeline());
  const { as, keys } = await secured(config);
  const sink = createRedisSink(as('store'), keys);
  const product = (category: string, entryId: string) => ({
    key: 'k1',
    entryId,
    traceId: 't',
    category,
    fields: { brand: 'B' },
    doc: { key: 'k1' },
    storedAt: Date.now(),
  });
  await sink.write([product('tools', '1-0')]);
  await sink.write([product('garden', '2-0')]);
  assert.equal(await admin.smembers(keys.category('tools')), []);
  assert.equal(await admin.smembers(keys.category('garden')), ['k1']);
  assert.is(await admin.hget(keys.product('k1'), 'copies'), '2');
});

test('acl --url-base that is no Redis URL is named as --url-base (it had been blamed on the config redis.url)', async () => {
  for (const [base, why] of [
    ['http://redis:6379', /expected redis:\/\/, .*got http:\/\/$/m],
    ['redis://redis:99999', /not a valid redis:\/\/ URL/],
  ] as const) {
    const r = cli(['--config', writeConfig(randomPipeline()), 'acl', '--url-base', base], server.url);
    assert.is(await exited(r), 1, r.output());
    assert.match(r.output(), /^error: config error at --url-base: /m);
    assert.match(r.output(), why);
  }
});

test('pipeline acl --apply --write-env: a `pipeline worker` child runs as its stage user from REDIS_URL_<STAGE>', async () => {
  const pipeline = randomPipeline();
  const configFile = writeConfig(pipeline);
  const envFile = join(tmpdir(), `${pipeline}.env`);
  try {
    const apply = cli(['--config', configFile, 'acl', '--apply', '--write-env', envFile], server.url);
    assert.is(await exited(apply), 0, apply.output());
    assert.is(statSync(envFile).mode & 0o777, 0o600);
    const env = Object.fromEntries(
      readFileSync(envFile, 'utf8')
        .split('\n')
        .filter((l) => /^[A-Z_]+=/.test(l))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    assert.match(env.REDIS_URL_STORE!, new RegExp(`^redis://${pipeline}-store:[0-9a-f]{64}@`));
    assert.equal(
      apply.output().match(/^REDIS_URL_[A-Z]+=/gm),
      ['REDIS_URL_PREPROCESS=', 'REDIS_URL_VALIDATE=', 'REDIS_URL_STORE='],
      'with --apply it prints the env lines',
    );
    const worker = spawn(process.execPath, [BIN, '--config', configFile, 'worker', 'store'], {
      env: { ...process.env, REDIS_URL: server.url, REDIS_URL_STORE: env.REDIS_URL_STORE },
      stdio: 'ignore',
    });
    try {
      await waitFor('store worker connected as its user', async () => /name=store:\S+:read .*user=\S+-store /.test(String(await admin.client('LIST'))), 15_000);
      assert.match(String(await admin.client('LIST')), new RegExp(`name=store:\\S+:cmd .*user=${pipeline}-store `));
    } finally {
      worker.kill('SIGTERM');
      await exited(worker);
    }
  } finally {
    rmSync(envFile, { force: true });
  }
});

test.after(async () => {
  for (const r of opened) r.disconnect();
  admin.disconnect();
  await server.close();
});
test.run();
