/**
 * A sharded pipeline (`shards` > 1) run by the users `pipeline acl` generates: the store writes
 * each completion to its record's shard (`{p:N}:done`, `{p:N}:status:<id>`), which is what those
 * users may write. It had written them to the unsharded `{p}:done`: NOPERM for the store user,
 * and every record, already upserted, was dead-lettered as `max_deliveries` too.
 * One redis-server is enough: the key names and the ACL are the same as on a Cluster.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import { Redis } from 'ioredis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig, stageRedisUrlEnv } from '../../lib/config/load.js';
import type { PipelineConfig, ResolvedConfig } from '../../lib/config/types.js';
import { readLabels } from '../../lib/console/labels.js';
import { aclUsers, applyAcl } from '../../lib/ops/acl.js';
import { pipelineStatus } from '../../lib/ops/inspect.js';
import { pauseStages, resumeStages } from '../../lib/ops/pause.js';
import { revokeIds } from '../../lib/ops/revoke.js';
import { createLogger } from '../../lib/observe/logger.js';
import { produce } from '../../lib/producer/producer.js';
import { Keys } from '../../lib/redis/keys.js';
import { configShards } from '../../lib/redis/shard.js';
import { readStatus } from '../../lib/stream/status-value.js';
import { Worker } from '../../lib/worker/worker.js';
import { stageDataAccess } from '../../stages/access.js';
import { STAGES } from '../../stages/index.js';
import { NOPERM } from '../helpers/acl.js';
import { FAST } from '../helpers/pipeline.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';

const SHARDS = 2;
const RECORDS = 40;
const server = await startRedis();
const admin = client(server.url);

/**
 * The sharded rules-only pipeline (`defaults` over FAST) run by its generated ACL users: the stage
 * workers in-process, their warnings and failures in `logs`, and a connection as the producer user.
 */
async function runOnAclUsers(defaults: Record<string, unknown>) {
  const raw = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../config/rules-only.json'), 'utf8')) as PipelineConfig;
  const pipeline = randomPipeline();
  const make = (env: Record<string, string>) =>
    resolveConfig({ ...raw, pipeline, shards: SHARDS, defaults: { ...raw.defaults, ...FAST, ...defaults } }, 'test', {
      env: { REDIS_URL: server.url, ...env },
    });
  const users = aclUsers(make({}), { dataAccess: stageDataAccess });
  await applyAcl(admin, users);
  const env: Record<string, string> = {};
  for (const u of users) if (u.stage) env[stageRedisUrlEnv(u.stage)] = u.url;
  const config = make(env);
  const logs: string[] = [];
  const workers = config.stages.map((s) => {
    const w = new Worker({ config, stage: s.name, stages: STAGES, logger: createLogger({ stage: s.name }, 'warn', (line) => logs.push(line)) });
    w.run().catch((err: unknown) => logs.push(`worker ${s.name} failed: ${String(err)}`));
    return w;
  });
  const producer = new Redis(users.find((u) => u.role === 'producer')!.url, { maxRetriesPerRequest: 2 });
  return { pipeline, config, shards: configShards(config), logs, workers, producer };
}

test('a sharded pipeline on the generated ACL users stores every record once, completes it on its shard, and dead-letters none', async () => {
  const { pipeline, config, shards, logs, workers, producer } = await runOnAclUsers({});
  const ids = Array.from({ length: RECORDS }, (_, i) => `s${i}`);
  try {
    const lines = ids.map((id, i) => JSON.stringify({ id, title: `Acme widget ${i}`, ...(i % 2 ? { mpn: `AW-${i}` } : {}) }));
    const summary = await produce(producer, Readable.from([lines.join('\n')]), {
      stream: shards.shard(0).stream(config.input),
      streamFor: (k) => shards.keysFor(k).stream(config.input),
      source: 'test',
      maxRecordBytes: 65536,
    });
    assert.is(summary.produced, RECORDS);
    // Every record reached an end on its shard (stored, or, before the fix, dead-lettered).
    const completed = async () => {
      let n = 0;
      for (const k of shards.all) n += await admin.xlen(k.done);
      return n;
    };
    await waitFor(`${RECORDS} completions on the shards`, async () => (await completed()) >= RECORDS, 20_000).catch((err: Error) => {
      throw new Error(
        `${err.message}; refused: ${
          logs
            .filter((l) => NOPERM.test(l))
            .slice(0, 2)
            .join(' | ') || 'none'
        }`,
      );
    });
  } finally {
    producer.disconnect();
    await Promise.all(workers.map((w) => w.stop()));
  }
  for (const k of shards.all) {
    const dlq = await admin.xrange(k.dlq, '-', '+');
    const why = dlq.map(([, f]) => `${f[f.indexOf('reason') + 1]}: ${f[f.indexOf('error') + 1]?.slice(0, 200)}`);
    assert.is(dlq.length, 0, `no dead letter on ${k.tag} (${why[0]})`);
    const done = await admin.xrange(k.done, '-', '+');
    assert.ok(done.length > 0, `${k.tag} has completions (${SHARDS} shards, ${RECORDS} records)`);
    assert.ok(
      done.every(([, f]) => f[f.indexOf('s') + 1] === 'stored'),
      `every completion on ${k.tag} says stored`,
    );
  }
  for (const id of ids) {
    const k = shards.keysFor(id);
    assert.is(await admin.hget(k.product(id), 'copies'), '1', `${id} stored once on ${k.tag}`);
    assert.is((await readStatus(admin, k.status(id))).s, 'stored', `${id}'s status on its shard`);
  }
  assert.is(await admin.xlen(new Keys(pipeline).done), 0, 'nothing written to the unsharded {p}:done');
  assert.equal(
    logs.filter((l) => NOPERM.test(l)),
    [],
    'no command refused',
  );
});

test("revoke on a sharded pipeline run by its ACL users: each marker on its id's shard, read there by the stage users; revoked ids end revoked on their shard, the others are stored", async () => {
  const { config, shards, logs, workers, producer } = await runOnAclUsers({ pausePollMs: 100 });
  const ids = Array.from({ length: 12 }, (_, i) => `v${i}`);
  const revoked = ids.slice(0, 6);
  try {
    assert.is(new Set(revoked.map((id) => shards.shardOf(id))).size, SHARDS, 'the revoked ids are on every shard');
    await pauseStages(admin, config, 'preprocess', { by: 'test' });
    await new Promise((res) => setTimeout(res, 500)); // every consumer has read the flag (pausePollMs 100)
    const lines = ids.map((id, i) => JSON.stringify({ id, title: `Acme widget ${i}` }));
    await produce(producer, Readable.from([lines.join('\n')]), {
      stream: shards.shard(0).stream(config.input),
      streamFor: (k) => shards.keysFor(k).stream(config.input),
      source: 'test',
      maxRecordBytes: 65536,
    });
    const results = await revokeIds(admin, config, revoked, { by: 'test', reason: 'withdrawn' });
    assert.ok(
      results.every((r) => r.outcome === 'revoked'),
      JSON.stringify(results),
    );
    for (const id of revoked) {
      const mine = (await admin.xrange(shards.keysFor(id).revokes, '-', '+')).map(([, f]) => f[1]);
      assert.ok(mine.includes(id), `${id}'s marker on its shard ${shards.keysFor(id).tag}`);
    }
    await resumeStages(admin, config, 'preprocess');
    const ended = async () => (await Promise.all(ids.map((id) => readStatus(admin, shards.keysFor(id).status(id))))).map((s) => s.s);
    await waitFor('every id ended', async () => (await ended()).every((s) => s !== undefined), 20_000).catch(async (err: Error) => {
      throw new Error(`${err.message}: ${(await ended()).join(' ')}; ${logs.slice(0, 3).join(' | ')}`);
    });
    assert.equal(await ended(), [...revoked.map(() => 'revoked'), ...ids.slice(6).map(() => 'stored')]);
    for (const id of revoked) assert.is(await admin.exists(shards.keysFor(id).product(id)), 0, `${id} not stored`);
    // Counted on each record's shard by its stage user (INCR of {p:N}:revoked), summed by the status.
    const status = await pipelineStatus(admin, config);
    assert.equal([status.revoked, status.revokeMarks], [6, 6]);
    assert.equal(
      status.shards!.map((sh) => [sh.revoked, sh.revokeMarks]),
      shards.all.map((k) => revoked.filter((id) => shards.keysFor(id) === k).length).map((n) => [n, n]),
    );
  } finally {
    producer.disconnect();
    await Promise.all(workers.map((w) => w.stop()));
  }
  assert.equal(logs, [], 'nothing refused or failed');
});

/** A sharded rules-only pipeline with logs.stream on, its ACL users applied, configured with the stage users' URLs. */
async function shardedLogsPipeline(): Promise<{ pipeline: string; users: ReturnType<typeof aclUsers>; config: ResolvedConfig }> {
  const raw = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../config/rules-only.json'), 'utf8')) as PipelineConfig;
  const pipeline = randomPipeline();
  const make = (env: Record<string, string>) =>
    resolveConfig({ ...raw, pipeline, shards: SHARDS, defaults: { ...raw.defaults, ...FAST }, logs: { stream: true, flushIntervalMs: 50 } }, 'test', {
      env: { REDIS_URL: server.url, ...env },
    });
  const users = aclUsers(make({}), { dataAccess: stageDataAccess });
  await applyAcl(admin, users);
  const env: Record<string, string> = {};
  for (const u of users) if (u.stage) env[stageRedisUrlEnv(u.stage)] = u.url;
  return { pipeline, users, config: make(env) };
}

/**
 * A preprocess worker with no logger given: it writes its events to the log stream, as `pipeline
 * worker` does (at info, so that its start is written: the test runner sets LOG_LEVEL=error).
 */
function loggingWorker(config: ResolvedConfig): Worker {
  const level = process.env.LOG_LEVEL;
  process.env.LOG_LEVEL = 'info';
  const worker = new Worker({ config, stage: 'preprocess', stages: STAGES });
  if (level === undefined) delete process.env.LOG_LEVEL;
  else process.env.LOG_LEVEL = level;
  return worker;
}

test('with logs.stream on, a stage user of a sharded pipeline writes the one log stream {p}:logs (its grant had named only {p:N}:logs: NOPERM)', async () => {
  const { pipeline, config } = await shardedLogsPipeline();
  const worker = loggingWorker(config);
  const running = worker.run();
  try {
    await waitFor("the worker's events in {p}:logs", async () => (await admin.xlen(new Keys(pipeline).extra('logs'))) > 0, 10_000);
  } finally {
    await worker.stop();
    await running.catch(() => undefined);
  }
});

test("the observer of a sharded pipeline reads the pipeline's one log stream {p}:logs and its labels {p}:labels (its rule had named only {p:N}:*: NOPERM)", async () => {
  const { pipeline, users, config } = await shardedLogsPipeline();
  const keys = new Keys(pipeline);
  const worker = loggingWorker(config);
  const running = worker.run();
  const observer = new Redis(users.find((u) => u.role === 'observer')!.url, { maxRetriesPerRequest: 2 });
  try {
    await waitFor("the worker's events in {p}:logs", async () => (await admin.xlen(keys.extra('logs'))) > 0, 10_000);
    // The central tail docs/metrics-and-monitoring.md gives: XREVRANGE '{p}:logs' + - COUNT 50.
    const tail = (await observer.xrevrange(keys.extra('logs'), '+', '-', 'COUNT', 50)) as [string, string[]][];
    assert.ok(tail.length > 0, 'the observer reads the log stream');
    assert.ok(
      tail.some(([, f]) => f[f.indexOf('log') + 1]?.includes('worker.started')),
      'the worker start is in the tail',
    );
    // `pipeline labels export` as the observer: none yet, not NOPERM.
    assert.equal((await readLabels(observer, keys)).labels, []);
    // Still read-only there.
    const write = await observer.xadd(keys.extra('logs'), '*', 'log', '{}').then(
      () => 'written',
      (err: Error) => err.message,
    );
    assert.match(write, NOPERM, 'the observer may not write the log stream');
  } finally {
    observer.disconnect();
    await worker.stop();
    await running.catch(() => undefined);
  }
});

test.after(async () => {
  admin.disconnect();
  await server.close();
});
test.run();
