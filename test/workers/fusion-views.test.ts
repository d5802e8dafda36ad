/**
 * The views apart from the workers (the console's graph and workers view, `pipeline top` and
 * `pipeline status`) show the
 * fusion the workers do, not the one their own environment would give: with a Redis user per stage
 * (REDIS_URL_<STAGE> in the workers' environment only, as deploy/k8s gives it) nothing is fused,
 * and the console, which runs on REDIS_URL, had still drawn every route of a process as fused.
 * The workers say what they fuse in their liveness markers (`fuses`).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig, stageRedisUrlEnv } from '../../lib/config/load.js';
import type { ResolvedConfig, StageOptions } from '../../lib/config/types.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { aclUsers, applyAcl } from '../../lib/ops/acl.js';
import { Keys } from '../../lib/redis/keys.js';
import { encodeEnvelope, newEnvelope } from '../../lib/stream/codec.js';
import { StageProcess } from '../../lib/worker/process.js';
import { ok, type StageFactory } from '../../lib/worker/stage.js';
import { statusOutput } from '../../scripts/commands/status.js';
import { TopSampler } from '../../scripts/commands/top.js';
import { auth, READ, startConsole } from '../helpers/console.js';
import { FAST } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);

const kinds: Record<string, StageFactory> = { mark: (ctx) => ({ kind: 'mark', process: async (batch) => batch.map(() => ok({ by: ctx.stage.name })) }) };

/** in → a → b → out, a and b in one process (`ab`); `rest` reads out and never runs. */
function config(pipeline: string, env: Record<string, string>): ResolvedConfig {
  const defaults: Partial<StageOptions> = { ...FAST, batchSize: 20 };
  return resolveConfig(
    {
      pipeline,
      input: 'in',
      defaults,
      stages: [
        { name: 'a', kind: 'mark', input: 'in', process: 'ab' },
        { name: 'b', kind: 'mark', process: 'ab' },
        { name: 'rest', kind: 'store', input: 'out' },
      ],
      routes: { a: [{ to: 'b' }], b: [{ to: 'out' }] },
    },
    'test',
    { env: { REDIS_URL: server.url, ...env } },
  );
}

/**
 * Run a and b as one process with `workers`' environment, push `n` records through, and read what
 * the console (configured with `viewer`'s environment) and `pipeline top` say of the fusion.
 */
async function views(workers: ResolvedConfig, viewer: ResolvedConfig, n = 30) {
  const keys = new Keys(workers.pipeline);
  const proc = new StageProcess({ config: workers, stages: ['a', 'b'], kinds, logger: silentLogger });
  const running = proc.run();
  const { app, url } = await startConsole(viewer).catch(async (err: unknown) => {
    await proc.stop(); // the try below has not begun: left running, it would hold the process
    await running;
    throw err;
  });
  try {
    const p = redis.pipeline();
    for (let i = 0; i < n; i++) p.xadd(keys.stream('in'), '*', 'k', `r${i}`, 'e', encodeEnvelope(newEnvelope({ id: `r${i}`, title: `t ${i}` })));
    await p.exec();
    await waitFor(`${n} in out`, async () => (await redis.xlen(keys.stream('out'))) >= n, 15_000);
    // The workers' liveness markers are written every watchdogIntervalMs: wait for a's.
    const markerOfA = async () => {
      const consumers = (await redis.xinfo('CONSUMERS', keys.stream('in'), 'a')) as unknown[][];
      const name = consumers[0] ? String(consumers[0][consumers[0].indexOf('name') + 1]) : undefined;
      return name === undefined ? null : redis.get(keys.liveness('a', name));
    };
    await waitFor("a's liveness marker", async () => (await markerOfA()) !== null, 10_000);
    const get = async (path: string) => (await fetch(`${url}${path}`, { headers: auth(READ) })).json();
    const graph = (await get('/console/api/graph')) as { edges: { from: string; to: string; fused: boolean }[] };
    const workersView = (await get('/console/api/workers')) as { stages: { stage: string; fusedAfter: string[] }[] };
    const top = await new TopSampler(redis, viewer, 50).frame();
    const status = (await statusOutput(redis, viewer)).text;
    const statusJson = JSON.parse((await statusOutput(redis, viewer, true)).text) as { fused: { from: string; to: string }[] };
    const info = (await redis.xinfo('STREAM', keys.stream('b'))) as unknown[];
    return {
      intoB: Number(info[info.indexOf('entries-added') + 1]),
      edge: graph.edges.find((e) => e.from === 'a' && e.to === 'b')!.fused,
      fusedAfter: workersView.stages.find((s) => s.stage === 'b')!.fusedAfter,
      top: top.fused,
      status,
      statusFused: statusJson.fused,
      marker: JSON.parse((await markerOfA())!) as { fuses?: string[] },
    };
  } finally {
    await app.close();
    await proc.stop();
    await running;
  }
}

test('a user per stage (REDIS_URL_<STAGE> only in the workers’ environment): nothing fused, and the console and top say so', async () => {
  const pipeline = randomPipeline('fv');
  const plain = config(pipeline, {});
  const users = aclUsers(plain);
  await applyAcl(redis, users);
  const urlOf = (stage: string) => users.find((u) => u.stage === stage)!.url;
  const workers = config(pipeline, { [stageRedisUrlEnv('a')]: urlOf('a'), [stageRedisUrlEnv('b')]: urlOf('b') });
  const v = await views(workers, plain);
  assert.is(v.intoB, 30, 'the workers fused nothing: every record went through b’s stream');
  assert.is(v.edge, false, 'the graph draws a → b unfused');
  assert.equal(v.fusedAfter, [], 'the workers view: b runs in no batch of a');
  assert.equal(v.top, [], 'top: nothing fused');
  assert.not.match(v.status, /fused/, 'status: no fused line');
  assert.equal(v.statusFused, [], 'status --json: nothing fused');
  assert.equal(v.marker.fuses, [], 'a’s marker: fuses nothing');
});

test('one user for both, while the console’s environment names another for b: fused, and the console and top say so', async () => {
  const pipeline = randomPipeline('fv');
  const v = await views(config(pipeline, {}), config(pipeline, { [stageRedisUrlEnv('b')]: `${server.url}/0` }));
  assert.is(v.intoB, 0, 'the workers fused a → b');
  assert.is(v.edge, true);
  assert.equal(v.fusedAfter, ['a']);
  assert.equal(v.top, [{ from: 'a', to: 'b' }]);
  assert.match(v.status, /\nfused \(run in the batch of the stage before; their streams count only the rest\): b after a\n$/, 'status names it as top does');
  assert.equal(v.statusFused, [{ from: 'a', to: 'b' }]);
  assert.equal(v.marker.fuses, ['b']);
});

test.run();
