import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { resolveConfig } from '../../lib/config/load.js';
import type { PipelineConfig } from '../../lib/config/types.js';
import { resolve } from 'node:path';
import { Keys } from '../../lib/redis/keys.js';
import { readLabels } from '../../lib/console/labels.js';
import { stageLatencies, hopTimings } from '../../lib/console/hops.js';
import { pipelineGraph } from '../../lib/console/graph.js';
import { rulesOnlyConfig, startWorkers, stopAll, cli, exited } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';
import { addDeadLetter, ADMIN, auth, READ, reviewConfig, startConsole } from '../helpers/console.js';
import { encodeEnvelope, newEnvelope } from '../../lib/stream/codec.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const json = async (r: Promise<Response>): Promise<any> => (await r).json();

const { server, redis } = await redisForFile(test);

test('hop timings: wait from the previous hand-off, batch from read to hand-off; each hop counted once across streams', () => {
  const env = {
    producedAt: 1000,
    traceId: 't1',
    hops: [
      { stage: 'a', consumer: 'c', readAt: 1010, doneAt: 1030, batch: 4 },
      { stage: 'b', consumer: 'c', readAt: 1100, doneAt: 1105, batch: 1 },
    ],
  };
  assert.equal(
    hopTimings(env).map((h) => [h.stage, h.waitMs, h.batchMs]),
    [
      ['a', 10, 20],
      ['b', 70, 5],
    ],
  );
  const lat = stageLatencies([env, env, { ...env, traceId: 't2', hops: env.hops.slice(0, 1) }]);
  assert.is(lat.get('a')!.samples, 2, 'the same hop seen in two streams counts once; another message (t2) counts too');
  assert.is(stageLatencies([env, env]).get('a')!.samples, 1);
  assert.is(lat.get('b')!.p99Ms, 5);
  assert.is(stageLatencies([env], 1050).get('a'), undefined, 'hops older than `since` are left out');
});

test('graph: every stage and the review stream, edges from the routing table by target stage, columns by depth', () => {
  const g = pipelineGraph(reviewConfig(server.url, 'g'));
  assert.ok(g.nodes.some((n) => n.id === 'review' && n.terminal));
  assert.ok(g.edges.some((e) => e.from === 'classify' && e.to === 'review' && e.rules.includes('0')));
  const col = (id: string) => g.nodes.find((n) => n.id === id)!.column;
  assert.ok(col('preprocess') < col('classify') && col('classify') < col('extract.computing') && col('validate') < col('store'));
});

test('GET /metrics: Prometheus text with the statsd-exporter mapping names; needs a read token', async () => {
  const pipeline = randomPipeline();
  const config = rulesOnlyConfig(server.url, pipeline);
  const workers = startWorkers(config);
  const { app, url } = await startConsole(config, { sampleIntervalMs: 200 }).catch(async (err: unknown) => {
    await stopAll(workers); // the try below has not begun: left running, they would hold the process
    throw err;
  });
  try {
    await redis.xadd(new Keys(pipeline).stream('in'), '*', 'k', 'm1', 'e', encodeEnvelope(newEnvelope({ id: 'm1', title: 'Koss EQ50 Equalizer' })));
    await waitFor('stored', async () => (await redis.scard(new Keys(pipeline).products)) === 1, 10_000);
    assert.is((await fetch(`${url}/metrics`)).status, 401);
    let text = '';
    await waitFor(
      'messages_in counted',
      async () => {
        text = await (await fetch(`${url}/metrics`, { headers: auth(READ) })).text();
        return /pipeline_messages_in_total\{[^}]*stage="store"[^}]*\} 1/.test(text);
      },
      10_000,
    );
    const mapping = readFileSync(resolve(import.meta.dirname, '../../deploy/statsd/mapping.yml'), 'utf8');
    const names = [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!);
    for (const n of [
      'pipeline_group_lag',
      'pipeline_group_pending',
      'pipeline_group_consumers',
      'pipeline_stream_length',
      'pipeline_dlq_length',
      'pipeline_store_products',
      'pipeline_messages_in_total',
      'pipeline_messages_out_total',
    ]) {
      assert.ok(names.includes(n), `${n} served`);
      assert.ok(mapping.includes(`name: ${n}\n`), `${n} is a name of deploy/statsd/mapping.yml`);
    }
    assert.match(text, new RegExp(`pipeline_store_products\\{pipeline="${pipeline}"\\} 1`));
    assert.match(text, /pipeline_group_lag\{[^}]*stage="preprocess"[^}]*\} 0/);
  } finally {
    await app.close();
    await stopAll(workers);
  }
});

test('an unknown console API route is a 404 naming the route (it had said "no console file api/..."); a missing file still names the file', async () => {
  const { app, url } = await startConsole(rulesOnlyConfig(server.url, randomPipeline()));
  try {
    assert.equal(await json(fetch(`${url}/console/api/trace/x1?y=1`, { headers: auth(READ) })), {
      error: 'not_found',
      message: 'no route GET /console/api/trace/x1',
    });
    assert.equal(await json(fetch(`${url}/console/nope.js`, { headers: auth(READ) })), { error: 'not_found', message: 'no console file nope.js' });
  } finally {
    await app.close();
  }
});

test('HEAD of the live samples stream answers its headers and ends (it had never answered, and held a subscriber until the client left)', async () => {
  const { app, url } = await startConsole(rulesOnlyConfig(server.url, randomPipeline()), { sampleIntervalMs: 200 });
  try {
    const head = await fetch(`${url}/console/api/events`, { method: 'HEAD', headers: auth(READ), signal: AbortSignal.timeout(3_000) }).catch(
      (err: unknown) => err,
    );
    assert.instance(head, Response, `HEAD answered within 3 s (${String(head)})`);
    assert.is((head as Response).status, 200);
    assert.match((head as Response).headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.is((await fetch(`${url}/console/api/events`, { method: 'HEAD' })).status, 401, 'still guarded');
  } finally {
    await app.close();
  }
});

test('history is kept in Redis: a second console process sees the first one’s samples; one writer at a time', async () => {
  const pipeline = randomPipeline();
  const config = rulesOnlyConfig(server.url, pipeline);
  const a = await startConsole(config, { sampleIntervalMs: 100 });
  const b = await waitFor('samples written', async () => (await redis.xlen(new Keys(pipeline).extra('console:stats'))) >= 5, 10_000)
    .then(() => startConsole(config, { sampleIntervalMs: 100 }))
    .catch(async (err: unknown) => {
      await a.app.close(); // the try below has not begun: left open, it would hold the process
      throw err;
    });
  try {
    const before = await redis.xlen(new Keys(pipeline).extra('console:stats'));
    await new Promise((r) => setTimeout(r, 500));
    const grew = (await redis.xlen(new Keys(pipeline).extra('console:stats'))) - before;
    assert.ok(grew <= 7, `two consoles write one series (about 5 samples in 500 ms, got ${grew})`);
    await a.app.close();
    const h = await json(fetch(`${b.url}/console/api/history?minutes=5`, { headers: auth(READ) }));
    assert.ok(h.samples.length >= 5, 'history from Redis, written by the first console');
    assert.ok(h.samples[0].stages.some((s: { stage: string }) => s.stage === 'preprocess'));
  } finally {
    await b.app.close();
  }
});

test('dead letters: a read token lists but gets 403 on replay; admin replays by reason, it is stored, the action is audited with the name', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  const config = rulesOnlyConfig(server.url, pipeline);
  const workers = startWorkers(config);
  const { app, url } = await startConsole(config).catch(async (err: unknown) => {
    await stopAll(workers); // the try below has not begun: left running, they would hold the process
    throw err;
  });
  try {
    const d1 = await addDeadLetter(redis, keys, { id: 'd1', title: 'Kensington K72349US Wireless Mouse' });
    const list = await json(fetch(`${url}/console/api/dlq`, { headers: auth(READ) }));
    assert.equal(list.groups, [{ stage: 'preprocess', reason: 'max_deliveries', count: 1, newest: d1 }]);
    const post = (t: string, body: unknown) =>
      fetch(`${url}/console/api/dlq/replay`, { method: 'POST', headers: { ...auth(t), 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.is((await post(READ, { reason: 'max_deliveries' })).status, 403);
    assert.is((await post(ADMIN, { ids: ['not-an-id'] })).status, 400);
    assert.is((await post(ADMIN, {})).status, 400);
    const r = await json(post(ADMIN, { reason: 'max_deliveries' }));
    assert.is(r.replayed.length, 1);
    await waitFor('replayed and stored', async () => (await redis.hget(keys.product('d1'), 'category')) !== null, 10_000);
    const audit = await json(fetch(`${url}/console/api/audit`, { headers: auth(READ) }));
    assert.is(audit.actions[0].by, 'alice');
    assert.is(audit.actions[0].action, 'dlq_replay');
    const trace = await json(fetch(`${url}/console/api/products/d1`, { headers: auth(READ) }));
    assert.is(trace.state, 'stored');
    assert.equal(
      trace.hops.map((h: { stage: string }) => h.stage),
      ['preprocess', 'validate'].filter((s) => trace.hops.some((h: { stage: string }) => h.stage === s)),
    );
  } finally {
    await app.close();
    await stopAll(workers);
  }
});

test('a product dead-lettered after 60 others shows as dead_lettered in its trace (the first 50 dead letters had been read, then filtered: "unknown")', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  const config = rulesOnlyConfig(server.url, pipeline);
  const { app, url } = await startConsole(config);
  try {
    for (let i = 0; i < 60; i++) await addDeadLetter(redis, keys, { id: `other-${i}`, title: 'Kensington K72349US Wireless Mouse' });
    await addDeadLetter(redis, keys, { id: 'late-1', title: 'Kensington K72349US Wireless Mouse' });
    const trace = await json(fetch(`${url}/console/api/products/late-1`, { headers: auth(READ) }));
    assert.is(trace.state, 'dead_lettered');
    assert.is(trace.deadLetters.length, 1);
  } finally {
    await app.close();
  }
});

test('console actions: a replay refused with 429 replays nothing; stream ids Redis cannot parse are 400s, not 500s; a selection matching nothing replays nothing', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  const config = rulesOnlyConfig(server.url, pipeline);
  for (const s of config.stages) s.maxLag = 2;
  const { app, url } = await startConsole(config);
  try {
    const id = await addDeadLetter(redis, keys, { id: 'z1', title: 'Kensington K72349US Wireless Mouse' });
    for (let i = 0; i < 3; i++) await redis.xadd(keys.stream('in'), '*', 'k', `q${i}`, 'e', 'x'); // lag 3 > maxLag 2, no worker
    const post = (path: string, body: unknown) =>
      fetch(`${url}/console/api/${path}`, { method: 'POST', headers: { ...auth(ADMIN), 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const refused = await post('dlq/replay', { ids: [id] });
    assert.is(refused.status, 429);
    assert.is(((await refused.json()) as { error: string }).error, 'backpressure');
    await new Promise((r) => setTimeout(r, 200));
    assert.is(await redis.xlen(keys.dlq), 1, 'the dead letter is still there');
    assert.is(await redis.xlen(keys.stream('in')), 3, 'nothing replayed onto the stream');
    const huge = '99999999999999999999999-0';
    assert.is((await fetch(`${url}/console/api/dlq/${huge}`, { headers: auth(READ) })).status, 400);
    assert.is((await post('dlq/replay', { ids: [huge] })).status, 400);
    const none = await post('dlq/replay', { reason: 'no_route' });
    assert.is(none.status, 200);
    assert.equal(await none.json(), { replayed: [], skipped: [] });
  } finally {
    await app.close();
  }
});

test('review: an unsure product waits in review; a correction goes to the extractor of the corrected category, is stored with reviewedBy, and kept as a label', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  const config = reviewConfig(server.url, pipeline, 0.9);
  const workers = startWorkers(config);
  const { app, url } = await startConsole(config).catch(async (err: unknown) => {
    await stopAll(workers); // the try below has not begun: left running, they would hold the process
    throw err;
  });
  try {
    await redis.xadd(keys.stream('in'), '*', 'k', 'r1', 'e', encodeEnvelope(newEnvelope({ id: 'r1', title: 'blue thing 3000' })));
    let items: { id: string; key: string; category: string; top: unknown[] }[] = [];
    await waitFor(
      'a review item',
      async () => {
        items = (await json(fetch(`${url}/console/api/review`, { headers: auth(READ) }))).items;
        return items.length === 1;
      },
      20_000,
    );
    assert.is(items[0]!.key, 'r1');
    assert.is(items[0]!.top.length, 3, 'the top three categories');
    const post = (t: string, body: unknown) =>
      fetch(`${url}/console/api/review/${items[0]!.id}`, {
        method: 'POST',
        headers: { ...auth(t), 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    assert.is((await post(READ, { category: 'audio' })).status, 403);
    const bad = await post(ADMIN, { category: 'audio', fields: { colour: 'blue' } });
    assert.is(bad.status, 400);
    const r = await json(post(ADMIN, { category: 'audio', fields: { brand: 'Bluecorp' } }));
    assert.equal(
      r.sentTo.map((s: { stream: string }) => s.stream),
      ['extract.electronics'],
    );
    const second = await post(ADMIN, { category: 'audio' });
    assert.is(second.status, 409, 'a second decision on the same item is refused');
    const refused = (await second.json()) as { error: string; decision: { by: string; entry: string } };
    assert.equal([refused.error, refused.decision.by, refused.decision.entry], ['conflict', 'alice', items[0]!.id], 'naming the decision that came first');
    await waitFor('stored after review', async () => (await redis.hget(keys.product('r1'), 'reviewedBy')) === 'alice', 20_000);
    const stored = await redis.hgetall(keys.product('r1'));
    assert.is(stored.category, 'audio');
    assert.is(stored.brand, 'Bluecorp');
    assert.ok(JSON.parse(stored.doc!).route.includes('extract.electronics'));
    const { labels } = await readLabels(redis, keys);
    assert.equal(
      labels.map((l) => [l.id, l.category, l.brand, l.reviewedBy, l.decision]),
      [['r1', 'audio', 'Bluecorp', 'alice', 'correct']],
    );
    process.env.PIPELINE = pipeline;
    const exp = cli(['labels', 'export'], server.url);
    delete process.env.PIPELINE;
    assert.is(await exited(exp), 0, exp.output());
    const line = JSON.parse(
      exp
        .output()
        .split('\n')
        .find((l) => l.startsWith('{"id"'))!,
    );
    assert.equal(
      [line.id, line.title, line.category, line.brand, line.source_category, line.source, line.reviewedBy],
      ['r1', 'blue thing 3000', 'audio', 'Bluecorp', items[0]!.category, 'console-review', 'alice'],
    );
  } finally {
    await app.close();
    await stopAll(workers);
  }
});

test("the config's console section sets the console's timers and caps for pipeline serve, the plugin's options over it (they were the plugin's only: an operator could not change the sampling interval)", async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  const raw = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../config/rules-only.json'), 'utf8')) as PipelineConfig;
  const config = resolveConfig({ ...raw, pipeline, console: { sampleIntervalMs: 7000, maxBulk: 3 } }, 'test', { env: { REDIS_URL: server.url } });
  for (let i = 0; i < 5; i++) await addDeadLetter(redis, keys, { id: `c${i}`, title: 'a thing' });
  // The plugin as `pipeline serve` registers it: no options of its own.
  const served = await startConsole(config, {});
  try {
    const history = await json(fetch(`${served.url}/console/api/history`, { headers: auth(READ) }));
    const dlq = await json(fetch(`${served.url}/console/api/dlq`, { headers: auth(READ) }));
    assert.equal([history.intervalMs, dlq.counted, dlq.total], [7000, 3, 5]);
  } finally {
    await served.app.close();
  }
  const embedded = await startConsole(config, { sampleIntervalMs: 250 });
  try {
    assert.is((await json(fetch(`${embedded.url}/console/api/history`, { headers: auth(READ) }))).intervalMs, 250, "the plugin's option wins");
  } finally {
    await embedded.app.close();
  }
});

test("history for the charts (the page's ?chart=true) answers each sample's time and per stage its lag and out rate only: a fraction of the whole samples each sign-in had read (about 1.5 MB an hour)", async () => {
  const { app, url } = await startConsole(reviewConfig(server.url, randomPipeline()), { sampleIntervalMs: 50 });
  try {
    await waitFor('samples in the series', async () => (await json(fetch(`${url}/console/api/history`, { headers: auth(READ) }))).samples.length >= 5);
    const text = async (q: string) => (await fetch(`${url}/console/api/history${q}`, { headers: auth(READ) })).text();
    const [whole, chart] = [await text(''), await text('?chart=true')];
    const samples = (JSON.parse(chart) as { samples: { at: number; stages: Record<string, unknown>[] }[] }).samples;
    assert.ok(samples.length >= 5);
    for (const s of samples) {
      assert.equal(Object.keys(s), ['at', 'stages']);
      assert.equal(
        s.stages.map((x) => Object.keys(x).join()),
        Array(6).fill('stage,lag,outRate'),
      );
    }
    const perSample = (t: string) => t.length / (JSON.parse(t) as { samples: unknown[] }).samples.length;
    assert.ok(perSample(chart) * 3 < perSample(whole), `a sample for the charts ${perSample(chart)} B, whole ${perSample(whole)} B`);
  } finally {
    await app.close();
  }
});

test.run();
