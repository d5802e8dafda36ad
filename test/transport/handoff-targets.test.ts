import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig, stageRedisUrlEnv } from '../../lib/config/load.js';
import type { PipelineConfig, ResolvedConfig } from '../../lib/config/types.js';
import { aclUsers, applyAcl } from '../../lib/ops/acl.js';
import { isIdle, pipelineStatus } from '../../lib/ops/inspect.js';
import { createLogger } from '../../lib/observe/logger.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { produce } from '../../lib/producer/producer.js';
import { Keys } from '../../lib/redis/keys.js';
import { Worker } from '../../lib/worker/worker.js';
import { stageDataAccess } from '../../stages/access.js';
import { STAGES } from '../../stages/index.js';
import { FAST } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);
const RAW = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../config/rules-only.json'), 'utf8')) as PipelineConfig;

function config(pipeline: string, env: Record<string, string> = {}, routes = RAW.routes): ResolvedConfig {
  return resolveConfig({ ...RAW, pipeline, routes, defaults: { ...RAW.defaults, ...FAST } }, 'test', { env: { REDIS_URL: server.url, ...env } });
}

/** N records, every third with an identifier (routed preprocess → validate → store), the rest preprocess → store. */
async function produceRecords(c: ResolvedConfig, n: number): Promise<void> {
  const lines = Array.from({ length: n }, (_, i) => JSON.stringify({ id: `r${i}`, title: `Product ${i}`, ...(i % 3 === 0 ? { mpn: `MX-${i}` } : {}) })).join(
    '\n',
  );
  const s = await produce(redis, Readable.from([lines]), {
    stream: new Keys(c.pipeline).stream(c.input),
    source: 'test',
    maxRecordBytes: 65536,
    batchSize: 50,
  });
  assert.is(s.produced, n);
}

/** Every record ends stored or dead-lettered with `reason`; none missing, none twice, nothing pending. */
async function everyRecordAccountedFor(c: ResolvedConfig, n: number, reason: string) {
  const keys = new Keys(c.pipeline);
  const dlq = await redis.xrange(keys.dlq, '-', '+');
  const dead = new Map<string, string>();
  for (const [, f] of dlq) {
    const field = (name: string) => f[f.indexOf(name) + 1]!;
    dead.set(field('k'), field('reason'));
  }
  for (let i = 0; i < n; i++) {
    const copies = await redis.hget(keys.product(`r${i}`), 'copies');
    if (i % 3 === 0) {
      assert.is(copies, null, `r${i} (routed to the unwritable target) must not be stored`);
      assert.is(dead.get(`r${i}`), reason, `r${i} must be dead-lettered with ${reason}`);
    } else {
      assert.is(copies, '1', `r${i} stored once`);
      assert.not.ok(dead.has(`r${i}`), `r${i} stored and dead-lettered`);
    }
  }
  assert.is(dlq.length, Math.ceil(n / 3));
  for (const s of c.stages) assert.ok(await groupDone(c, s.name), `${s.name}: entries undelivered or pending`);
}

/** The stage's group has delivered everything and has nothing pending (XINFO GROUPS of its input). */
async function groupDone(c: ResolvedConfig, stage: string): Promise<boolean> {
  const input = new Keys(c.pipeline).stream(c.stages.find((s) => s.name === stage)!.input);
  const groups = (await redis.xinfo('GROUPS', input).catch(() => [])) as unknown[][];
  const g = groups
    .map((row) => Object.fromEntries(Array.from({ length: row.length / 2 }, (_, i) => [row[2 * i], row[2 * i + 1]])))
    .find((x) => x.name === stage);
  return !!g && Number(g.lag) === 0 && Number(g.pending) === 0;
}

function run(configs: Record<string, ResolvedConfig>): Worker[] {
  const ws = Object.entries(configs).map(
    ([stage, c]) => new Worker({ config: c, stage, stages: STAGES, logger: process.env.TEST_LOG ? createLogger({ stage }, 'info') : silentLogger }),
  );
  for (const w of ws) w.run().catch((err) => console.error('worker failed', err));
  return ws;
}

test('a hand-off target holding another type (WRONGTYPE): nothing is acked unforwarded; the records routed there are dead-lettered (unwritable_target), the rest stored', async () => {
  const c = config(randomPipeline());
  const keys = new Keys(c.pipeline);
  await redis.set(keys.stream('validate'), 'not a stream');
  const n = 300;
  await produceRecords(c, n);
  const workers = run({ preprocess: c, store: c });
  try {
    await waitFor('preprocess and store done', async () => (await groupDone(c, 'preprocess')) && (await groupDone(c, 'store')), 30_000);
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
  await everyRecordAccountedFor({ ...c, stages: c.stages.filter((s) => s.name !== 'validate') }, n, 'unwritable_target');
  const dl = await redis.xrange(keys.dlq, '-', '+', 'COUNT', 1);
  const err = dl[0]![1][dl[0]![1].indexOf('error') + 1]!;
  assert.match(err, /WRONGTYPE/);
  assert.match(err, keys.stream('validate'));
});

test("a route to a stream the stage's ACL user may not write (routes changed without `pipeline acl --apply`): NOPERM before any write; the records routed there are dead-lettered, the rest stored", async () => {
  const pipeline = randomPipeline();
  // The ACL was derived when preprocess routed everything to store; then validate was added.
  const before = config(pipeline, {}, { preprocess: [{ to: 'store' }], validate: [{ to: 'store' }] });
  const users = aclUsers(before, { dataAccess: stageDataAccess });
  await applyAcl(redis, users);
  const env = Object.fromEntries(users.filter((u) => u.stage).map((u) => [stageRedisUrlEnv(u.stage!), u.url]));
  const c = config(pipeline, env);
  assert.ok(c.stages.find((s) => s.name === 'preprocess')!.redisUrl.includes(`${pipeline}-preprocess`), 'preprocess runs as its ACL user');
  const n = 300;
  await produceRecords(c, n);
  const workers = run({ preprocess: c, store: c, validate: c });
  try {
    await waitFor('drained', async () => isIdle(await pipelineStatus(redis, c)), 30_000);
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
  await everyRecordAccountedFor(c, n, 'unwritable_target');
  const dl = await redis.xrange(new Keys(pipeline).dlq, '-', '+', 'COUNT', 1);
  assert.match(dl[0]![1][dl[0]![1].indexOf('error') + 1]!, /NOPERM.*pipeline acl --apply/);
});

test.run();
