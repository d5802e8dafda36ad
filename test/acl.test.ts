import { spawn } from 'node:child_process';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { Redis } from 'ioredis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { aclUsers, applyAcl, formatSetUser } from '../lib/ops/acl.js';
import { FIELD_ENVELOPE, FIELD_KEY } from '../lib/stream/codec.js';
import { loadConfigFile, resolveConfig, stageRedisUrlEnv } from '../lib/config/load.js';
import type { PipelineConfig, ResolvedConfig } from '../lib/config/types.js';
import { isIdle, pipelineStatus } from '../lib/ops/inspect.js';
import { createLogger } from '../lib/observe/logger.js';
import { produce } from '../lib/producer/producer.js';
import { loadLibrary } from '../lib/redis/functions.js';
import { Backpressure } from '../lib/producer/backpressure.js';
import { Keys } from '../lib/redis/keys.js';
import { Script } from '../lib/redis/script.js';
import { Worker } from '../lib/worker/worker.js';
import { stageDataAccess } from '../stages/access.js';
import { STAGES } from '../stages/index.js';
import { createRedisSink } from '../stages/sinks/redis.js';
import { BIN, cli, exited, FAST, rulesOnlyConfig, writeConfig } from './helpers/pipeline.js';
import { client, randomPipeline, startRedis, waitFor } from './helpers/redis.js';

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

/** The command's error message ('' if it succeeded). */
const error = (p: Promise<unknown>) =>
  p.then(
    () => '',
    (e: Error) => e.message,
  );
/** Refused by ACL: NOPERM for a command, "The user executing the script can't ..." inside a script. */
const NOPERM = /NOPERM|no permissions|user executing the script can't/i;

test('generated rules: one user per stage, XADD only to the stage routes, the DLQ, the log stream and the completion stream', () => {
  const config = rulesOnlyConfig(server.url, 'products');
  const users = aclUsers(config, { dataAccess: stageDataAccess, password: () => 'pw' });
  assert.equal(
    users.map((u) => u.name),
    ['products-preprocess', 'products-validate', 'products-store', 'products-producer', 'products-observer'],
  );
  const line = (stage: string) => formatSetUser(users.find((u) => u.stage === stage)!);
  assert.match(line('preprocess'), '"(%W~{products}:validate %W~{products}:store %W~{products}:dlq %W~{products}:logs %W~{products}:done +xadd)"');
  assert.match(line('validate'), '"(%W~{products}:store %W~{products}:dlq %W~{products}:logs %W~{products}:done +xadd)"');
  assert.match(line('store'), '"(%W~{products}:dlq %W~{products}:logs %W~{products}:done +xadd)"');
  assert.match(line('store'), '"(%W~{products}:status:* +del +hset +pexpire)"');
  assert.match(line('store'), '+hmget +hincrby +hset +sadd +srem)');
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
  assert.match(await error(validate.get(keys.liveness('validate', 'h-1-0'))), NOPERM, 'liveness markers are write-only');
  assert.match(await error(validate.set(keys.liveness('store', 'h-1-0'), '{}', 'PX', 1000)), NOPERM, "another stage's liveness marker");
  for (const other of ['in', 'validate', 'review', 'elsewhere']) {
    assert.match(await error(validate.xadd(keys.stream(other), '*', 'a', '1')), NOPERM, `XADD to ${other}`);
  }
  const addFromScript = "return redis.call('XADD', KEYS[1], '*', 'a', '1')";
  assert.match(await error(validate.eval(addFromScript, 1, keys.stream('store'))), NOPERM, 'no EVAL of its own Lua, not even on its own keys');
  // The pipeline's own functions run under the same rules: produce-batch-2 XADDs to KEYS[1].
  const produceFn = new Script('produce-batch-2').fn;
  assert.match(
    await error(validate.fcall(produceFn, 2, keys.stream('in'), keys.stream('in') + ':producer:x', 1, 1000, 1, 'k', 'e')),
    NOPERM,
    'a pipeline function declaring a foreign key',
  );
  assert.match(
    await error(validate.fcall(produceFn, 2, keys.stream('validate'), keys.stream('validate') + ':producer:x', 1, 1000, 1, 'k', 'e')),
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

/** Every stage as an in-process Worker on its own user; warn/error log lines collected. */
function startSecuredWorkers(config: ResolvedConfig, logs: string[]): Worker[] {
  return config.stages.map((s) => {
    const logger = createLogger({ stage: s.name }, 'warn', (line) => logs.push(line));
    const w = new Worker({ config, stage: s.name, stages: STAGES, logger });
    w.run().catch((err: unknown) => logs.push(`worker ${s.name} failed: ${String(err)}`));
    return w;
  });
}

async function runEndToEnd(raw: PipelineConfig, n: number, timeoutMs: number): Promise<void> {
  const pipeline = randomPipeline();
  const base = resolveConfig({ ...raw, pipeline, defaults: { ...raw.defaults, ...FAST, consumerIdleRemoveMs: 200 } }, 'test', {
    env: { REDIS_URL: server.url },
  });
  const users = aclUsers(base, { dataAccess: stageDataAccess });
  await applyAcl(admin, users);
  const stageUser = (stage: string) => users.find((u) => u.stage === stage)!;
  const env: Record<string, string> = { REDIS_URL: server.url };
  for (const s of base.stages) env[stageRedisUrlEnv(s.name)] = stageUser(s.name).url;
  const config = resolveConfig({ ...raw, pipeline, defaults: { ...raw.defaults, ...FAST, consumerIdleRemoveMs: 200 } }, 'test', { env });
  for (const s of config.stages) assert.is(s.redisUrl, stageUser(s.name).url, `${s.name} connects as its own user`);
  const keys = new Keys(pipeline);

  // A stale consumer in every group: the reclaimer removes it through delete-idle-consumer-1.lua.
  for (const s of config.stages) {
    await admin.xgroup('CREATE', keys.stream(s.input), s.name, '0', 'MKSTREAM');
    await admin.xgroup('CREATECONSUMER', keys.stream(s.input), s.name, 'gone-1');
  }
  // An entry held by a consumer that is gone: the first stage reclaims it as its own user through
  // claim-2.lua (XAUTOCLAIM, and INCR of the claim fence).
  const first = config.stages.find((s) => s.input === config.input)!;
  const held = JSON.stringify({ id: 'held', title: 'Acme widget held' });
  await produce(admin, Readable.from([held]), { stream: keys.stream(config.input), source: 'test', maxRecordBytes: 65536 });
  await admin.xreadgroup('GROUP', first.name, 'gone-2', 'COUNT', 10, 'STREAMS', keys.stream(config.input), '>');
  // An undecodable entry: preprocess dead-letters it through the hand-off script.
  await admin.xadd(keys.stream(config.input), '*', FIELD_KEY, 'junk', FIELD_ENVELOPE, Buffer.from([0xc1]));

  // Workers started before the admin loaded the Functions library: each says so once and waits.
  await admin.call('FUNCTION', 'FLUSH');
  const logs: string[] = [];
  const workers = startSecuredWorkers(config, logs);
  await waitFor(
    'every worker reports the missing library',
    () => config.stages.every((s) => logs.some((l) => l.includes('"functions.missing"') && l.includes(`"stage":"${s.name}"`))),
    15_000,
  );
  assert.is(await loadLibrary(admin), 1);
  const producerUser = users.find((u) => u.role === 'producer')!;
  const producer = new Redis(producerUser.url, { maxRetriesPerRequest: 2 });
  opened.push(producer);
  const lines = Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      id: `a${i}`,
      title: `Acme widget ${i}`,
      ...(i % 2 ? { mpn: `AW-${i}` } : {}),
      ...(i % 3 === 0 ? { description: 'UPC 036000291452' } : {}),
    }),
  );
  try {
    const summary = await produce(producer, Readable.from([lines.join('\n')]), { stream: keys.stream(config.input), source: 'test', maxRecordBytes: 65536 });
    assert.is(summary.produced, n);
    // While the pipeline runs: no pipeline user may run Lua of its own or load any.
    for (const u of users) {
      const r = new Redis(u.url, { maxRetriesPerRequest: 1 });
      opened.push(r);
      assert.match(await error(r.eval('return 1', 0)), NOPERM, `${u.name}: EVAL "return 1" 0`);
      assert.match(await error(r.evalsha('e0e1f9fabfc9d4800c877a703b823ac0578ff8db', 0)), NOPERM, `${u.name}: EVALSHA`);
      assert.match(await error(r.call('SCRIPT', 'LOAD', 'return 1')), NOPERM, `${u.name}: SCRIPT LOAD`);
      assert.match(
        await error(r.call('FUNCTION', 'LOAD', "#!lua name=evil\nredis.register_function('evil', function() while true do end end)")),
        NOPERM,
        `${u.name}: FUNCTION LOAD`,
      );
      assert.match(await error(r.call('FUNCTION', 'FLUSH')), NOPERM, `${u.name}: FUNCTION FLUSH`);
    }
    // Done when every stage is idle and each record is stored or (model pipeline: category unknown) only in review.
    const done = async () => {
      if (!isIdle(await pipelineStatus(admin, config))) return false;
      const reviewed = new Set((await admin.xrange(keys.stream('review'), '-', '+')).map(([, f]) => f[f.indexOf(FIELD_KEY) + 1]));
      const stored = await admin.smembers(keys.products);
      return new Set([...stored, ...reviewed]).size === n + 1 && stored.length > 0;
    };
    await waitFor('every record stored (or sent to review) by the per-stage users', done, timeoutMs).catch((err: Error) => {
      throw new Error(
        `${err.message}; refused: ${
          logs
            .filter((l) => NOPERM.test(l))
            .slice(0, 3)
            .join(' | ') || 'none'
        }`,
      );
    });
    await waitFor(
      'stale consumers removed',
      async () => {
        for (const s of config.stages) {
          const consumers = (await admin.xinfo('CONSUMERS', keys.stream(s.input), s.name)) as unknown[][];
          if (consumers.some((c) => c[1] === 'gone-1' || c[1] === 'gone-2')) return false;
        }
        return true;
      },
      10_000,
    );
    const clients = String(await admin.client('LIST'));
    for (const s of config.stages) {
      assert.match(clients, new RegExp(`name=${s.name}:\\S+:cmd .*user=${stageUser(s.name).name} `), `${s.name} command connection runs as its user`);
      assert.match(clients, new RegExp(`name=${s.name}:\\S+:read .*user=${stageUser(s.name).name} `), `${s.name} reader runs as its user`);
    }
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
  assert.ok((await admin.get(keys.fence(first.name))) !== null, 'the reclaim moved the claim fence (a token: lib/lua/claim-2.lua)');
  const dlq = (await admin.xrange(keys.dlq, '-', '+')).map(([, f]) => f[f.indexOf('reason') + 1]);
  assert.equal(dlq, ['undecodable'], 'only the junk entry is dead-lettered');
  const stored = await admin.smembers(keys.products);
  const copies = await Promise.all(stored.map((k) => admin.hget(keys.product(k), 'copies')));
  assert.ok(
    copies.every((c) => c === '1'),
    'every product stored exactly once',
  );
  const denied = logs.filter((l) => NOPERM.test(l));
  assert.equal(denied, [], 'no command was refused');
}

test('the rules-only pipeline runs end to end with every stage on its own ACL user', async () => {
  const raw = JSON.parse(readFileSync(resolve(import.meta.dirname, '../config/rules-only.json'), 'utf8')) as PipelineConfig;
  await runEndToEnd(raw, 200, 20_000);
});

// The model pipeline, once its stage kinds are registered (stages/index.ts) and differ from rules-only.
const modelConfigPath = resolve(import.meta.dirname, '../config/pipeline.json');
const modelRaw = JSON.parse(readFileSync(modelConfigPath, 'utf8')) as PipelineConfig;
const modelKinds = modelRaw.stages.map((s) => s.kind);
if (modelKinds.every((k) => k in STAGES) && modelKinds.some((k) => !['preprocess', 'validate', 'store'].includes(k))) {
  test('the model pipeline (config/pipeline.json) runs end to end with every stage on its own ACL user', async () => {
    loadConfigFile(modelConfigPath, { env: {} });
    await runEndToEnd(modelRaw, 30, 45_000);
  });
}

test.after(async () => {
  for (const r of opened) r.disconnect();
  admin.disconnect();
  await server.close();
});
test.run();
