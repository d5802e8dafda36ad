/**
 * A store user whose ACL predates this release (upgraded without `pipeline acl --apply`: no
 * `{p}:reprocess:*`, which the upsert declares) is the deployment's fault, not the records':
 * nothing is dead-lettered for it. The batch waits in place (the upsert is refused whole, nothing
 * written) with one `redis.noperm` line naming the user, the key and `pipeline acl --apply`.
 * Before the fix NOPERM was poison: every record was retried maxDeliveries times and dead-lettered.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig, stageRedisUrlEnv } from '../lib/config/load.js';
import type { PipelineConfig, ResolvedConfig, ResolvedStage } from '../lib/config/types.js';
import { aclUsers, applyAcl, type AclUser, type KeyGrant } from '../lib/ops/acl.js';
import { createLogger } from '../lib/observe/logger.js';
import { produce } from '../lib/producer/producer.js';
import { Keys } from '../lib/redis/keys.js';
import { Worker } from '../lib/worker/worker.js';
import { stageDataAccess } from '../stages/access.js';
import { STAGES } from '../stages/index.js';
import { FAST } from './helpers/pipeline.js';
import { client, randomPipeline, startRedis, waitFor } from './helpers/redis.js';

const server = await startRedis();
const admin = client(server.url);
const RAW = JSON.parse(readFileSync(resolve(import.meta.dirname, '../config/rules-only.json'), 'utf8')) as PipelineConfig;
const N = 12;

type Line = Record<string, unknown>;

/** The data grants of the release before the reprocess markers: the store had no `{p}:reprocess:*`. */
const previousRelease = (stage: ResolvedStage, keys: Keys): KeyGrant[] => stageDataAccess(stage, keys).filter((g) => !g.keys.includes(keys.reprocess('*')));

function config(pipeline: string, store: Record<string, unknown>, env: Record<string, string> = {}): ResolvedConfig {
  const stages = RAW.stages.map((s) => (s.kind === 'store' ? { ...s, settings: store } : s));
  return resolveConfig({ ...RAW, pipeline, stages, defaults: { ...RAW.defaults, ...FAST } }, 'test', { env: { REDIS_URL: server.url, ...env } });
}

/** Every stage as its own ACL user, with `dataAccess` as the users' data grants; passwords fixed so a re-apply keeps them. */
async function applyUsers(c: ResolvedConfig, dataAccess: (s: ResolvedStage, k: Keys) => KeyGrant[]): Promise<AclUser[]> {
  const users = aclUsers(c, { dataAccess, password: (u) => `pw-${c.pipeline}-${u.name}` });
  await applyAcl(admin, users);
  return users;
}

/** Run every stage of `c` in this process, each as its user; log lines collected. */
function run(c: ResolvedConfig, lines: Line[]): Worker[] {
  const workers = c.stages.map(
    (s) => new Worker({ config: c, stage: s.name, stages: STAGES, logger: createLogger({ stage: s.name }, 'info', (l) => lines.push(JSON.parse(l) as Line)) }),
  );
  for (const w of workers) w.run().catch((err) => console.error('worker failed', err));
  return workers;
}

async function produceRecords(c: ResolvedConfig): Promise<void> {
  const text = Array.from({ length: N }, (_, i) => JSON.stringify({ id: `p${i}`, title: `Product ${i}`, ...(i % 2 ? { mpn: `MX-${i}` } : {}) })).join('\n');
  await produce(admin, Readable.from([text]), { stream: new Keys(c.pipeline).stream(c.input), source: 'test', maxRecordBytes: 65536 });
}

/** Store batches waited in place for an outage (the failure policy's transient class). */
const storeWaits = (lines: Line[]) => lines.filter((l) => l.stage === 'store' && l.event === 'stage.transient_retry').length;

/** The one clear line: user, key, what to run. */
function assertClearLine(lines: Line[], c: ResolvedConfig) {
  const noperm = lines.filter((l) => l.event === 'redis.noperm' && l.stage === 'store');
  assert.ok(noperm.length >= 1, `no redis.noperm line; store lines: ${JSON.stringify(lines.filter((l) => l.stage === 'store').slice(0, 3))}`);
  assert.ok(noperm.length <= 2, `redis.noperm logged ${noperm.length} times: once per refusal, not per retry`);
  const l = noperm[0]!;
  assert.is(l.user, `${c.pipeline}-store`);
  assert.match(String(l.keys), `{${c.pipeline}}:reprocess:`);
  assert.match(String(l.command), /FCALL|HMGET|DEL/);
  assert.match(String(l.fix), 'pipeline acl --apply');
}

test('redis sink, store user of the previous release: the batch waits in place (nothing dead-lettered), one clear line; after `acl --apply` every record is stored once', async () => {
  const pipeline = randomPipeline('nps');
  const base = config(pipeline, { sink: 'redis' });
  const users = await applyUsers(base, previousRelease);
  const c = config(pipeline, { sink: 'redis' }, Object.fromEntries(users.filter((u) => u.stage).map((u) => [stageRedisUrlEnv(u.stage!), u.url])));
  const keys = new Keys(pipeline);
  const lines: Line[] = [];
  const workers = run(c, lines);
  try {
    await produceRecords(c);
    // Under the old policy every record was dead-lettered after maxDeliveries (5) tries: wait for
    // that, or for the batch to have waited in place well past that many times.
    const maxDeliveries = c.stages.find((s) => s.name === 'store')!.maxDeliveries;
    await waitFor('the store refused many times', async () => storeWaits(lines) >= 3 * maxDeliveries || (await admin.xlen(keys.dlq)) === N, 30_000);
    assert.is(await admin.xlen(keys.dlq), 0, 'a record was dead-lettered for a missing permission');
    assert.is(await admin.scard(keys.products), 0, 'the refused upsert wrote nothing');
    assertClearLine(lines, c);
    assert.is(lines.filter((l) => l.event === 'message.dead_letter').length, 0);
    // The fix: the current rules (same passwords), as `pipeline acl --apply` sets them.
    await applyUsers(base, stageDataAccess);
    await waitFor('every record stored', async () => (await admin.scard(keys.products)) === N, 30_000);
    for (let i = 0; i < N; i++) assert.is(await admin.hget(keys.product(`p${i}`), 'copies'), '1', `p${i} stored once`);
    assert.is(await admin.xlen(keys.dlq), 0);
    await waitFor('the wait said it is over', () => lines.some((l) => l.event === 'redis.noperm_resolved' && l.stage === 'store'), 10_000);
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
});

test.after(async () => {
  admin.disconnect();
  await server.close();
});
test.run();
