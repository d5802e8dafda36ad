/**
 * A worker whose Redis user loses a permission while it runs (its consumer selector gone: a stage
 * renamed, users applied from another config): its read loop and its reclaimer are refused on
 * every try. Each says so once, `redis.noperm`, naming the user, the command (XREADGROUP; the
 * reclaimer's XAUTOCLAIM inside claim-3's function, which Redis reports only as "The user
 * executing the script can't run this command") and the key, with `pipeline acl --apply`; each
 * refusal is counted (`redis.noperm`); the liveness record says what the worker waits for, so
 * `pipeline health` fails naming it and `pipeline top` lists it; once the users are applied again
 * the record waiting in the stream is stored and the wait is said to be over. Before the fix the
 * loop logged Redis's bare message every backoff for ever, the reclaimer a function name, and
 * health only "no progress marker" after the stall limit.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig, stageRedisUrlEnv } from '../../lib/config/load.js';
import type { PipelineConfig, ResolvedConfig } from '../../lib/config/types.js';
import { aclUsers, applyAcl, type AclUser } from '../../lib/ops/acl.js';
import { consumerHealth } from '../../lib/ops/consumer-health.js';
import { createLogger } from '../../lib/observe/logger.js';
import { produce } from '../../lib/producer/producer.js';
import { Keys } from '../../lib/redis/keys.js';
import { Worker } from '../../lib/worker/worker.js';
import { stageDataAccess } from '../../stages/access.js';
import { STAGES } from '../../stages/index.js';
import { statusOutput } from '../../scripts/commands/status.js';
import { renderFrame, TopSampler } from '../../scripts/commands/top.js';
import { FAST } from '../helpers/pipeline.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';
import { listener } from '../helpers/statsd.js';

const RAW = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../config/rules-only.json'), 'utf8')) as PipelineConfig;
const server = await startRedis();
const admin = client(server.url);
type Line = Record<string, unknown>;

test('a consumer selector taken away while the worker runs: one clear line per refused step, counted, shown by health and top; stored once the users are applied again', async () => {
  const statsd = await listener();
  const pipeline = randomPipeline('npl');
  const raw = { ...RAW, pipeline };
  const base = resolveConfig(raw, 'test', { env: { REDIS_URL: server.url } });
  const users = aclUsers(base, { dataAccess: stageDataAccess, password: (u) => `pw-${pipeline}-${u.name}` });
  await applyAcl(admin, users);
  const metrics = { enabled: true, host: '127.0.0.1', port: statsd.port, flushIntervalMs: 20 };
  const env = Object.fromEntries(users.filter((u) => u.stage).map((u) => [stageRedisUrlEnv(u.stage!), u.url]));
  const c: ResolvedConfig = resolveConfig({ ...raw, defaults: { ...raw.defaults, ...FAST }, metrics }, 'test', { env: { REDIS_URL: server.url, ...env } });
  const keys = new Keys(pipeline);
  const lines: Line[] = [];
  const workers = c.stages.map(
    (s) => new Worker({ config: c, stage: s.name, stages: STAGES, logger: createLogger({ stage: s.name }, 'info', (l) => lines.push(JSON.parse(l) as Line)) }),
  );
  for (const w of workers) w.run().catch((err) => console.error('worker failed', err));
  const send = (id: string) =>
    produce(admin, Readable.from([JSON.stringify({ id, title: `Product ${id}`, mpn: `MX-${id}` })]), {
      stream: keys.stream('in'),
      source: 'test',
      maxRecordBytes: 65536,
    });
  const validate = users.find((u) => u.stage === 'validate')!;
  try {
    await send('before');
    await waitFor('the first record stored through validate', async () => (await admin.exists(keys.product('before'))) === 1, 20_000);
    // validate's user loses its consumer selector (XREADGROUP, XAUTOCLAIM, ... on its own stream).
    await applyAcl(admin, [{ ...validate, rules: validate.rules.filter((r) => !r.includes('+xreadgroup')) } as AclUser]);
    await send('m-1');
    const noperm = (where: RegExp) => lines.filter((l) => l.event === 'redis.noperm' && l.stage === 'validate' && where.test(String(l.where)));
    const refusals = () => statsd.lines.filter((l) => l.name === 'redis.noperm' && l.tags.stage === 'validate').reduce((n, l) => n + l.value, 0);
    await waitFor(
      'the read loop and the reclaimer refused, each said once, refused again and again',
      () => noperm(/^loop$/).length > 0 && noperm(/^reclaim/).length > 0 && refusals() >= 20,
      20_000,
    );
    const [loop] = noperm(/^loop$/);
    assert.is(loop!.user, validate.name);
    // Its read (XREADGROUP), or the hand-off of m-1 when a read blocked before the change delivered it (XACK inside handoff-N).
    assert.match(String(loop!.command), /^(XREADGROUP|XACK in function handoff-N)$/);
    assert.ok((loop!.keys as string[]).includes(keys.stream('validate')), JSON.stringify(loop));
    assert.match(String(loop!.fix), 'pipeline acl --apply');
    const [reclaim] = noperm(/^reclaim$/);
    assert.is(reclaim!.user, validate.name);
    assert.is(reclaim!.command, 'XAUTOCLAIM in function claim-3');
    assert.ok((reclaim!.keys as string[]).includes(keys.stream('validate')), JSON.stringify(reclaim));
    assert.is(noperm(/^loop$/).length, 1, 'said once, not once per retry');
    assert.is(noperm(/^reclaim$/).length, 1, 'said once, not once per pass');
    assert.is(lines.filter((l) => l.stage === 'validate' && (l.event === 'consumer.loop_error' || l.event === 'reclaim.error')).length, 0);
    // What it waits for is visible: health fails naming it (liveness holds: it waits on purpose), top lists it.
    const health = () => consumerHealth(admin, c, 'validate', { host: hostname(), pid: process.pid });
    await waitFor('health names the missing permission', async () => /XREADGROUP|XACK/.test((await health()).reason ?? ''), 20_000);
    const h = await health();
    assert.not.ok(h.ok);
    assert.match(h.reason!, validate.name);
    assert.match(h.reason!, 'pipeline acl --apply');
    const frame = await new TopSampler(admin, c, 10).frame();
    assert.ok(
      frame.waiting?.some((w) => w.stage === 'validate' && /XREADGROUP|XACK/.test(w.reason)),
      JSON.stringify(frame.waiting),
    );
    assert.match(renderFrame(frame, 1000), /validate .*(XREADGROUP|XACK).*pipeline acl --apply/);
    // And `pipeline status`: a line for the stage, with the fix.
    const status = (await statusOutput(admin, c)).text;
    assert.match(
      status,
      /\nvalidate waits (\d+ s )?for a Redis permission \(1 consumer; [^)]*\): user \S+ may not run (XREADGROUP|XACK).*pipeline acl --apply/,
      status,
    );
    assert.is(await admin.exists(keys.product('m-1')), 0);
    assert.is(await admin.xlen(keys.dlq), 0);
    // `pipeline acl --apply`: the record waiting in the stream goes through, the wait is said to be over, health passes.
    await applyAcl(admin, users);
    await waitFor('m-1 stored', async () => (await admin.exists(keys.product('m-1'))) === 1, 20_000);
    await waitFor(
      'the wait said to be over',
      () => lines.some((l) => l.event === 'redis.noperm_resolved' && l.stage === 'validate' && l.where === 'loop'),
      10_000,
    );
    await waitFor('health passes again', async () => (await health()).ok, 10_000);
    assert.is(await admin.xlen(keys.dlq), 0);
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    statsd.socket.close();
  }
});

test.after(async () => {
  admin.disconnect();
  await server.close();
});
test.run();
