/**
 * The ACL end to end: the rules-only pipeline (and config/pipeline.json, once its stage kinds are
 * registered) runs with every stage and the producer on their own ACL users: stale consumers
 * removed, a held entry reclaimed, no pipeline user may run or load Lua of its own, nothing refused.
 */
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { Redis } from 'ioredis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { aclUsers, applyAcl } from '../../lib/ops/acl.js';
import { FIELD_ENVELOPE, FIELD_KEY } from '../../lib/stream/codec.js';
import { loadConfigFile, resolveConfig, stageRedisUrlEnv } from '../../lib/config/load.js';
import type { PipelineConfig, ResolvedConfig } from '../../lib/config/types.js';
import { isIdle, pipelineStatus } from '../../lib/ops/inspect.js';
import { createLogger } from '../../lib/observe/logger.js';
import { produce } from '../../lib/producer/producer.js';
import { Backpressure } from '../../lib/producer/backpressure.js';
import { loadLibrary } from '../../lib/redis/functions.js';
import { Keys } from '../../lib/redis/keys.js';
import { Worker } from '../../lib/worker/worker.js';
import { stageDataAccess } from '../../stages/access.js';
import { STAGES } from '../../stages/index.js';
import { error, NOPERM } from '../helpers/acl.js';
import { BIN, exited, FAST } from '../helpers/pipeline.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';

const server = await startRedis();
const admin = client(server.url);
const opened: Redis[] = [];

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
  // claim-3.lua (XAUTOCLAIM, and INCR of the claim fence).
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
    // pipeline produce's backpressure reads the lag of every stage after the input too (NOPERM had ended the run).
    assert.is(typeof (await Backpressure.forInput(producer, config, keys, 0, 0).check()).clear, 'boolean');
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
    // The health probe as a pod runs it: REDIS_URL is the first stage's user, each stage's own in
    // REDIS_URL_<STAGE> (as the first stage's user it got NOPERM for every other stage). Probed
    // until it passes, as the startup probe does (the markers are written every watchdogIntervalMs).
    const file = join(tmpdir(), `${pipeline}-acl.json`);
    writeFileSync(file, JSON.stringify({ ...raw, pipeline, defaults: { ...raw.defaults, ...FAST } }));
    try {
      for (const s of config.stages) {
        let out = '';
        const probe = async () => {
          const p = spawn(process.execPath, [BIN, '--config', file, 'health', '--stage', s.name, '--pid', String(process.pid)], {
            env: { ...process.env, ...env, REDIS_URL: stageUser(first.name).url },
          });
          out = '';
          p.stdout.on('data', (d: Buffer) => (out += d.toString()));
          p.stderr.on('data', (d: Buffer) => (out += d.toString()));
          return (await exited(p)) === 0;
        };
        await waitFor(`health --stage ${s.name} as the stage users`, probe, 15_000).catch((err: Error) => {
          throw new Error(`${err.message}: ${out}`);
        });
        assert.not.match(out, NOPERM);
      }
    } finally {
      rmSync(file, { force: true });
    }
    const clients = String(await admin.client('LIST'));
    for (const s of config.stages) {
      assert.match(clients, new RegExp(`name=${s.name}:\\S+:cmd .*user=${stageUser(s.name).name} `), `${s.name} command connection runs as its user`);
      assert.match(clients, new RegExp(`name=${s.name}:\\S+:read .*user=${stageUser(s.name).name} `), `${s.name} reader runs as its user`);
    }
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
  assert.ok((await admin.get(keys.fence(first.name))) !== null, 'the reclaim moved the claim fence (a token: lib/lua/claim-3.lua)');
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
  const raw = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../config/rules-only.json'), 'utf8')) as PipelineConfig;
  await runEndToEnd(raw, 200, 20_000);
});

// The model pipeline, once its stage kinds are registered (stages/index.ts) and differ from rules-only.
const modelConfigPath = resolve(import.meta.dirname, '../../config/pipeline.json');
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
