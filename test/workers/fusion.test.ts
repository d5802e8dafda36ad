/**
 * Stage fusion (lib/worker/fusion.ts): in a process running several stages, a record one stage
 * routes to another local stage alone runs through it in the same batch and is handed off once;
 * what the fused stage fails on goes through its stream to its own consumer; `fuse: false` and
 * another Redis user keep every hop.
 */
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfigFile, resolveConfig, stageRedisUrlEnv } from '../../lib/config/load.js';
import { fusedRoutes } from '../../lib/config/fusion-plan.js';
import { pipelineGraph } from '../../lib/console/graph.js';
import { renderFrame } from '../../scripts/commands/top.js';
import type { StageOptions } from '../../lib/config/types.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import { completionsOf } from '../../lib/stream/done.js';
import { decodeEnvelope, encodeEnvelope, entryFields, newEnvelope, type Envelope, type Message } from '../../lib/stream/codec.js';
import type { FusedForward, FusedStage } from '../../lib/stream/forwarder.js';
import type { Forward } from '../../lib/stream/handoff.js';
import { resolveFused } from '../../lib/worker/fusion.js';
import { StageProcess } from '../../lib/worker/process.js';
import { fail, ok, type StageFactory } from '../../lib/worker/stage.js';
import { TransientError } from '../../lib/core/errors.js';
import { FAST } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const message = (key: string): Message => ({ id: `1-${key}`, stream: 's', envelope: newEnvelope({ id: key, title: key }) });
const fusedTo = (into: FusedStage, m: Message): FusedForward => ({ id: m.id, targets: ['next'], fields: [], fused: { into, message: m } });
const done = (m: Message, target: string): Forward => ({ id: m.id, targets: [target], fields: ['k', m.envelope.key] });

test('resolveFused: a chain runs level by level, each stage once with all its messages; a failed one falls back to its stream, encoded; a cycle is cut', async () => {
  const calls: string[][] = [];
  const last: FusedStage = { runFused: async (ms) => (calls.push(ms.map((m) => m.envelope.key)), ms.map((m) => done(m, 'out'))) };
  const first: FusedStage = {
    runFused: async (ms) => (calls.push(ms.map((m) => m.envelope.key)), ms.map((m) => (m.envelope.key === 'bad' ? undefined : fusedTo(last, m)))),
  };
  const [a, b, bad] = ['a', 'b', 'bad'].map(message) as [Message, Message, Message];
  const forwards: Forward[] = [fusedTo(first, a), done(b, 'elsewhere'), fusedTo(first, bad)];
  await resolveFused(forwards);
  assert.equal(calls, [['a', 'bad'], ['a']]);
  assert.equal(forwards[0], done(a, 'out'));
  assert.equal(forwards[1], done(b, 'elsewhere'), 'an unfused forward is left as it is');
  const fallback = forwards[2]!;
  assert.equal(fallback.targets, ['next']);
  assert.equal(decodeEnvelope(fallback.fields[3] as Buffer).key, 'bad', 'the failed one is written to the fused stage’s stream');

  let runs = 0;
  const loop: FusedStage = { runFused: async (ms) => (runs++, ms.map((m) => fusedTo(loop, m))) };
  const cycle: Forward[] = [fusedTo(loop, message('c'))];
  await resolveFused(cycle, undefined, undefined, 3);
  assert.is(runs, 3);
  assert.equal(cycle[0]!.fields.length, 4, 'cut at the depth limit: encoded for the stream');
});

test('completionsOf names the stage that made a forward, not the one committing the batch', () => {
  const f: Forward = { id: '1-0', targets: ['{p}:stream:review'], fields: ['k', 'p1', 'e', Buffer.from('')], stage: 'classify' };
  const list = completionsOf([f, { ...f, stage: undefined }], 'preprocess', '{p}:dlq', new Map([['{p}:stream:review', 'review']]));
  assert.equal(
    list.map((c) => c.stage),
    ['classify', 'preprocess'],
  );
});

test('fusedRoutes: the shipped config fuses preprocess into classify and extract → validate → match → store; fuse: false or another Redis user undoes one; views show it', () => {
  const shipped = loadConfigFile('config/pipeline.json', { env: {} });
  const pairs = (c: typeof shipped) => fusedRoutes(c).map((r) => `${r.from}>${r.to}`);
  assert.equal(pairs(shipped), [
    'preprocess>classify',
    'extract.electronics>validate',
    'extract.computing>validate',
    'extract.accessories>validate',
    'validate>match',
    'match>store',
  ]);
  const raw = JSON.parse(readFileSync('config/pipeline.json', 'utf8')) as { stages: Record<string, unknown>[] };
  raw.stages.find((st) => st.name === 'classify')!.fuse = false;
  const other = resolveConfig(raw, 'test', { env: { [stageRedisUrlEnv('store')]: 'redis://other:6379' } });
  assert.equal(pairs(other), ['extract.electronics>validate', 'extract.computing>validate', 'extract.accessories>validate', 'validate>match']);
  const edges = pipelineGraph(shipped).edges;
  assert.ok(edges.find((e) => e.from === 'preprocess' && e.to === 'classify')!.fused);
  assert.not.ok(edges.find((e) => e.from === 'classify' && e.to === 'extract.computing')!.fused, 'another process');
  const frame = { pipeline: 'p', at: 0, rows: [], dlq: 0, stored: 0, revoked: 0, revokeMarks: 0, fused: fusedRoutes(shipped) };
  assert.match(renderFrame(frame, 1000), /fused .*: classify after preprocess, validate after extract\.electronics/);
});

const { server, redis } = await redisForFile(test);

/** `mark` records its stage name; `flaky` also fails the first call for a title with "bad". */
const seen = new Map<string, number>();
const outageOnce = { pending: false };
const kinds: Record<string, StageFactory> = {
  mark: (ctx) => ({ kind: 'mark', process: async (batch) => batch.map(() => ok({ by: ctx.stage.name })) }),
  // An output msgpack cannot encode (a symbol) for a title with "sym": the fused hand-off cannot be written.
  odd: (ctx) => ({
    kind: 'odd',
    process: async (batch) => batch.map((m) => ok(m.envelope.input.title.includes('sym') ? { v: Symbol('x') } : { by: ctx.stage.name })),
  }),
  // A sink that writes each message (by its entry id, as the store's `copies` counts) and then
  // fails the whole call with an outage the first time it sees a batch, as a Redis OOM on the
  // store's completion write after its upserts did.
  writesThenOutage: (ctx) => ({
    kind: 'writesThenOutage',
    process: async (batch) => {
      for (const m of batch) await ctx.redis.sadd(`${ctx.config.pipeline}:copies:${m.envelope.key}`, m.id);
      if (outageOnce.pending) {
        outageOnce.pending = false;
        throw new TransientError('OOM command not allowed when used memory > maxmemory');
      }
      return batch.map(() => ok({ by: ctx.stage.name }));
    },
  }),
  // A model stage: nothing can run until init (its model load) is done.
  slowInit: (ctx) => {
    let loaded = false;
    return {
      kind: 'slowInit',
      init: async () => {
        await new Promise((r) => setTimeout(r, 400));
        loaded = true;
      },
      process: async (batch) => {
        if (!loaded) throw new Error("Cannot read properties of undefined (reading 'tokenizerId')");
        return batch.map(() => ok({ by: ctx.stage.name }));
      },
    };
  },
  flaky: (ctx) => ({
    kind: 'flaky',
    process: async (batch) =>
      batch.map((m) => {
        const n = (seen.get(m.envelope.key) ?? 0) + 1;
        seen.set(m.envelope.key, n);
        return m.envelope.input.title.includes('bad') && n === 1 ? fail(new Error('first try fails')) : ok({ by: ctx.stage.name });
      }),
  }),
};

/** in → a → b → out; `out` is the input of `rest`, never run. */
function config(pipeline: string, b: Record<string, unknown> = {}, env: Record<string, string> = {}, a: Record<string, unknown> = {}) {
  const defaults: Partial<StageOptions> = { ...FAST, batchSize: 20 };
  return resolveConfig(
    {
      pipeline,
      input: 'in',
      defaults,
      stages: [
        { name: 'a', kind: 'mark', input: 'in', ...a },
        { name: 'b', kind: 'flaky', ...b },
        { name: 'rest', kind: 'store', input: 'out' },
      ],
      routes: { a: [{ to: 'b' }], b: [{ to: 'out' }] },
    },
    'test',
    { env: { REDIS_URL: server.url, ...env } },
  );
}

async function run(pipeline: string, n: number, cfg = config(pipeline), want = n): Promise<{ out: Envelope[]; intoB: number; pendingA: number }> {
  const keys = new Keys(pipeline);
  const proc = new StageProcess({ config: cfg, stages: ['a', 'b'], kinds, logger: silentLogger });
  const running = proc.run();
  try {
    const p = redis.pipeline();
    for (let i = 0; i < n; i++)
      p.xadd(keys.stream('in'), '*', 'k', `p${i}`, 'e', encodeEnvelope(newEnvelope({ id: `p${i}`, title: i % 10 === 3 ? `bad ${i}` : `ok ${i}` })));
    await p.exec();
    await waitFor(`${want} in out`, async () => (await redis.xlen(keys.stream('out'))) >= want, 15_000);
  } finally {
    await proc.stop();
    await running;
  }
  const entries = (await redis.xrangeBuffer(keys.stream('out'), '-', '+')) as [Buffer, Buffer[]][];
  const info = (await redis.xinfo('STREAM', keys.stream('b'))) as unknown[];
  const intoB = Number(info[info.indexOf('entries-added') + 1]);
  const pendingA = Number(((await redis.xpending(keys.stream('in'), 'a')) as unknown[])[0]);
  return { out: entries.map(([, f]) => decodeEnvelope(entryFields(f).payload!)), intoB, pendingA };
}

const keysOf = (out: Envelope[]) => out.map((e) => e.key).sort();
const expected = (n: number) => Array.from({ length: n }, (_, i) => `p${i}`).sort();

test('fused: what a routes to b alone runs through b in a’s batch; b’s stream gets nothing, out gets each record once with both outputs and hops', async () => {
  seen.clear();
  const n = 100;
  const pipeline = randomPipeline('fz');
  const { out, intoB, pendingA } = await run(pipeline, n, config(pipeline));
  assert.equal(keysOf(out), expected(n));
  assert.is(intoB, 10, 'only the ten b failed on (first try) went through its stream');
  assert.is(pendingA, 0);
  const good = out.find((e) => e.key === 'p0')!;
  assert.equal(good.outputs, { a: { by: 'a' }, b: { by: 'b' } });
  assert.equal(
    good.hops.map((h) => h.stage),
    ['a', 'b'],
  );
  assert.is(good.hops[0]!.consumer, good.hops[1]!.consumer);
  const retried = out.find((e) => e.key === 'p3')!;
  assert.equal(retried.outputs, { a: { by: 'a' }, b: { by: 'b' } }, 'the failed one is b’s once, by its own consumer');
  assert.equal(
    retried.hops.map((h) => h.stage),
    ['a', 'b'],
  );
  assert.is(seen.get('p3'), 2);
});

test('an output that cannot be encoded fails only its record, at the stage that made it: b’s is taken back and b’s own consumer dead-letters it; a’s goes a’s way', async () => {
  for (const odd of ['b', 'a'] as const) {
    const pipeline = randomPipeline('fz');
    const keys = new Keys(pipeline);
    const cfg = odd === 'b' ? config(pipeline, { kind: 'odd', maxDeliveries: 2 }) : config(pipeline, {}, {}, { kind: 'odd', maxDeliveries: 2 });
    const proc = new StageProcess({ config: cfg, stages: ['a', 'b'], kinds, logger: silentLogger });
    const running = proc.run();
    try {
      const p = redis.pipeline();
      for (const [id, title] of [
        ['p0', 'ok 0'],
        ['p1', 'sym 1'],
        ['p2', 'ok 2'],
      ])
        p.xadd(keys.stream('in'), '*', 'k', id!, 'e', encodeEnvelope(newEnvelope({ id: id!, title: title! })));
      await p.exec();
      await waitFor(`${odd}: two in out, one dead letter`, async () => (await redis.xlen(keys.stream('out'))) === 2 && (await redis.xlen(keys.dlq)) === 1);
    } finally {
      await proc.stop();
      await running;
    }
    const dead = (await redis.xrangeBuffer(keys.dlq, '-', '+')) as [Buffer, Buffer[]][];
    const fields = dead[0]![1];
    const names = fields.map((f) => f.toString());
    assert.is(names[names.indexOf('stage') + 1], odd);
    const env = decodeEnvelope(entryFields(fields).payload!);
    assert.is(env.key, 'p1');
    // The dead letter keeps the entry as the failing stage read it: b's has a's output, not its own.
    assert.equal(Object.keys(env.outputs), odd === 'b' ? ['a'] : []);
    const out = (await redis.xrangeBuffer(keys.stream('out'), '-', '+')) as [Buffer, Buffer[]][];
    assert.equal(out.map(([, f]) => decodeEnvelope(entryFields(f).payload!).key).sort(), ['p0', 'p2']);
  }
});

test("an outage in a fused stage is waited out in place: the same entries are called again, so a sink that wrote part of them counts no second copy (they had gone through b's stream under new ids)", async () => {
  const pipeline = randomPipeline('fz');
  outageOnce.pending = true;
  const n = 10;
  const { out, intoB, pendingA } = await run(pipeline, n, config(pipeline, { kind: 'writesThenOutage' }));
  assert.equal(keysOf(out), expected(n));
  assert.is(outageOnce.pending, false, 'the outage happened');
  assert.is(intoB, 0, "nothing went through b's stream");
  assert.is(pendingA, 0);
  for (let i = 0; i < n; i++) assert.is(await redis.scard(`${pipeline}:copies:p${i}`), 1, `p${i} written under one entry id`);
});

test('a process prepares every stage before any reads: records waiting at start are fused into a stage still loading its model (they had failed their batch and gone through its stream)', async () => {
  const pipeline = randomPipeline('fz');
  const keys = new Keys(pipeline);
  const p = redis.pipeline();
  for (let i = 0; i < 100; i++) p.xadd(keys.stream('in'), '*', 'k', `w${i}`, 'e', encodeEnvelope(newEnvelope({ id: `w${i}`, title: `ok ${i}` })));
  await p.exec();
  const { out, intoB } = await run(pipeline, 0, config(pipeline, { kind: 'slowInit' }), 100);
  assert.is(out.length, 100);
  assert.is(intoB, 0, 'nothing went the long way round through b’s stream');
});

test('fuse: false, or b on another Redis URL (another ACL user): every record goes through b’s stream', async () => {
  for (const cfg of [(p: string) => config(p, { fuse: false }), (p: string) => config(p, {}, { [stageRedisUrlEnv('b')]: `${server.url}/0` })]) {
    seen.clear();
    const pipeline = randomPipeline('fz');
    const { out, intoB } = await run(pipeline, 40, cfg(pipeline));
    assert.equal(keysOf(out), expected(40));
    assert.is(intoB, 40);
  }
});

test.run();
