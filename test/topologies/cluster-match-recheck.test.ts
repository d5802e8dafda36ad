/**
 * A duplicate matched while a shard was behind is re-checked once the shard caught up
 * (stages/domain/match-recheck.ts). A real 3-master cluster (no replicas: a pause, not a failover),
 * a 3-shard pipeline, two match stage instances (two workers, each its own copy of the vectors):
 * the master of shard S is paused (SIGSTOP) while worker 1 matches record A (on S: its vector write
 * waits for the master) and worker 2 matches A's twin B (on another master's shard) against its
 * stale copy of S, which finds no duplicate. Before the fix B stayed a new product; now, once S
 * answers again, worker 2 hands B on to the store again with duplicateOf A, once.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import type { PipelineConfig } from '../../lib/config/types.js';
import { createLogger } from '../../lib/observe/logger.js';
import { noopMetrics, type Metrics } from '../../lib/observe/metrics.js';
import { Keys } from '../../lib/redis/keys.js';
import { configShards } from '../../lib/redis/shard.js';
import { createClient } from '../../lib/redis/url.js';
import { decodeEnvelope, entryFields, newEnvelope, type Envelope, type Message } from '../../lib/stream/codec.js';
import { toEntries } from '../../lib/stream/entries.js';
import type { Stage, StageContext } from '../../lib/worker/stage.js';
import { createMatch } from '../../stages/match.js';
import { createStore } from '../../stages/store.js';
import { RedisCluster } from '../helpers/cluster.js';
import { pipelineWhere } from '../helpers/cluster-pipelines.js';
import { FAST } from '../helpers/pipeline.js';
import { waitFor } from '../helpers/redis.js';

const SHARDS = 3;
/** The match stage's settings.shardWaitMs here: how long a batch waits on the paused master. */
const SHARD_WAIT_MS = 300;
/** settings.recheck.settleMs and retryMs here (defaults 2000 and 1000). */
const SETTLE_MS = 300;
const RETRY_MS = 100;
/** How long the correction may take once the master answers again. */
const CORRECTED_WITHIN_MS = 15_000;
/** cluster-node-timeout: longer than the pause, so the paused master is never failed (no replicas, the cluster would go down). */
const NODE_TIMEOUT_MS = 20_000;

const cluster = await new RedisCluster({ masters: 3, replicas: 0, nodeTimeoutMs: NODE_TIMEOUT_MS }).start();
const clients: ReturnType<typeof createClient>[] = [];
const connect = (name: string) => {
  const r = createClient(cluster.url, { connectionName: name, maxRetriesPerRequest: null });
  r.on('error', () => {});
  clients.push(r);
  return r;
};
const redis = connect('test:check');

function recording(): Metrics & { counts: Map<string, number> } {
  const counts = new Map<string, number>();
  return { ...noopMetrics, counts, increment: (name, n = 1) => void counts.set(name, (counts.get(name) ?? 0) + n) };
}

test('a twin matched against a paused shard is re-checked once it answers: stored first as a new product, then as duplicateOf its twin, once', async () => {
  const { pipeline, masterOf } = await pipelineWhere(cluster, SHARDS, 'rc', (m) => m[1] !== m[2]);
  const [S, R] = [1, 2];
  const raw: PipelineConfig = {
    pipeline,
    input: 'in',
    shards: SHARDS,
    defaults: FAST,
    stages: [
      {
        name: 'match',
        kind: 'match',
        input: 'in',
        model: 'product-embed',
        settings: { shardWaitMs: SHARD_WAIT_MS, recheck: { settleMs: SETTLE_MS, retryMs: RETRY_MS } },
      },
      { name: 'store', kind: 'store', settings: { sink: 'redis' } },
    ],
    routes: { match: [{ to: 'store' }] },
  } as PipelineConfig;
  const config = resolveConfig(raw, 'test', { env: { REDIS_URL: cluster.url } });
  const shards = configShards(config);
  const ctx = (name: string, stage: string, metrics: Metrics): StageContext => ({
    config,
    stage: config.stages.find((s) => s.name === stage)!,
    keys: new Keys(pipeline),
    redis: connect(name),
    logger: createLogger({ stage, consumer: name }, 'warn'),
    metrics,
  });
  const idOn = (s: number, prefix: string) => {
    for (let i = 0; ; i++) if (shards.shardOf(`${prefix}${i}`) === s) return `${prefix}${i}`;
  };
  let seq = 0;
  const message = (id: string, title: string, stream = 'in', env?: Envelope): Message => ({
    id: `${Date.now()}-${seq}`,
    stream,
    envelope: env ?? { ...newEnvelope({ id, title }), origin: `${Date.now()}-${seq++}` },
  });
  const m1 = recording();
  const m2 = recording();
  const w1 = createMatch(ctx('test:w1', 'match', m1));
  const w2 = createMatch(ctx('test:w2', 'match', m2));
  const store = createStore(ctx('test:store', 'store', recording()));
  const stages: Stage[] = [w1, w2, store];
  try {
    await Promise.all(stages.map((s) => s.init?.()));
    // Both copies synced, every master's function library loaded, before the pause.
    for (const [w, n] of [
      [w1, 1],
      [w2, 2],
    ] as const)
      await w.process([0, 1, 2].map((s) => message(idOn(s, `warm${n}-`), `Garden hose reel ${n * 10 + s} metre green`)));
    const a = idOn(S, 'a-');
    const b = idOn(R, 'b-');
    const title = 'Sony WH-1000XM5 wireless noise cancelling over-ear headphones black';
    const paused = masterOf[S]!;
    cluster.signal(paused, 'SIGSTOP');
    let resumed = false;
    const resume = () => {
      if (!resumed) cluster.signal(paused, 'SIGCONT');
      resumed = true;
    };
    try {
      const [ra] = await w1.process([message(a, title)]);
      const msgB = message(b, title);
      const [rb] = await w2.process([msgB]);
      assert.ok(ra?.ok && rb?.ok, 'both matched while the master was paused');
      assert.is(rb.ok && rb.output.duplicateOf, undefined, "B's twin was on the paused shard, not in worker 2's copy: B is matched as new");
      // What worker 2 handed on: stored as a new product.
      await store.process([message(b, title, 'store', { ...msgB.envelope, outputs: { match: rb.ok ? rb.output : {} } })]);
      assert.is((await redis.hget(shards.keysFor(b).product(b), 'duplicateOf')) ?? undefined, undefined);
      // Kept for the re-check, on a shard whose master answers (B's own here).
      const noted = await redis.lrangeBuffer(shards.all[R]!.extra('match-recheck'), 0, -1);
      assert.ok(noted.length >= 1, 'B kept for a re-check');
      resume();
      // The correction: B again, on its shard's store stream, with duplicateOf A.
      const storeStream = shards.all[R]!.stream('store');
      let corrections: Envelope[] = [];
      await waitFor(
        `a correction of ${b} in ${storeStream}`,
        async () => {
          const entries = toEntries((await redis.xrangeBuffer(storeStream, '-', '+')) as unknown as [Buffer, Buffer[] | null][]);
          corrections = entries.map((e) => decodeEnvelope(entryFields(e.fields).payload!)).filter((e) => e.key === b);
          return corrections.length > 0;
        },
        CORRECTED_WITHIN_MS,
      );
      const fixed = corrections[0]!;
      const out = fixed.outputs.match as Record<string, unknown>;
      assert.is(out.duplicateOf, a);
      assert.ok((out.matchScore as number) >= 0.92, `score ${String(out.matchScore)}`);
      assert.is(fixed.rebuilt, 'match');
      await store.process([message(b, title, 'store', fixed)]);
      const stored = await redis.hgetall(shards.keysFor(b).product(b));
      assert.is(stored.duplicateOf, a, 'stored as a duplicate of its twin');
      assert.is(stored.copies, '1', 'the correction is the same product, not another copy');
      // Once: worker 1 re-checked A too (its twin B is on no shard it had behind), and nothing waits.
      await waitFor('every re-check list empty', async () =>
        (await Promise.all(shards.all.map((k) => redis.llen(k.extra('match-recheck'))))).every((n) => n === 0),
      );
      await w1.process([message(idOn(0, 'late-'), 'Stainless steel kitchen knife set 5 pieces')]);
      await w2.process([message(idOn(0, 'later-'), 'Ceramic coffee mug 350 ml blue')]);
      const after = toEntries((await redis.xrangeBuffer(storeStream, '-', '+')) as unknown as [Buffer, Buffer[] | null][]);
      assert.is(after.filter((e) => entryFields(e.fields).key === b).length, 1, 'one correction');
      // Either worker may have re-checked B (each reads every shard's list): one correction between them.
      const m3 = recording();
      const total = (name: string) => [m1, m2, m3].reduce((n, m) => n + (m.counts.get(name) ?? 0), 0);
      assert.is(total('match.recheck_corrected'), 1);
      assert.ok(total('match.rechecked') >= 2, 'A and B re-checked');
      const ofA = toEntries((await redis.xrangeBuffer(shards.all[S]!.stream('store'), '-', '+')) as unknown as [Buffer, Buffer[] | null][]);
      assert.is(ofA.filter((e) => entryFields(e.fields).key === a).length, 0, 'A, the earlier twin, is left as it is');
      // Re-checked again (the entry read twice: another worker, or one restarted before it was removed): the same result, nothing sent twice.
      const rechecked = total('match.rechecked');
      await redis.rpush(shards.all[R]!.extra('match-recheck'), ...noted);
      const w3 = createMatch(ctx('test:w3', 'match', m3));
      stages.push(w3);
      await w3.init?.();
      await w3.process([message(idOn(0, 'w3-'), 'Cordless drill 18 V with two batteries')]);
      await waitFor('the entry re-checked again', async () => (await redis.llen(shards.all[R]!.extra('match-recheck'))) === 0);
      assert.ok(total('match.rechecked') > rechecked, 're-checked again (by whichever worker read the list first)');
      assert.is(total('match.recheck_corrected'), 1, 'its correction was sent already');
      const again = toEntries((await redis.xrangeBuffer(storeStream, '-', '+')) as unknown as [Buffer, Buffer[] | null][]);
      assert.is(again.filter((e) => entryFields(e.fields).key === b).length, 1, 'still one correction');
    } finally {
      resume();
    }
  } finally {
    for (const s of stages) await s.close?.();
  }
});

test.after(async () => {
  for (const c of clients) c.disconnect();
  await cluster.close();
});
test.run();
