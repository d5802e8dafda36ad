import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, connect, type Socket } from 'node:net';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';
import { cli, exitedWithin, FAST, rulesOnlyConfig, startWorkers, stopAll, writeConfig } from '../helpers/pipeline.js';
import { recordCompletions, type Completion } from '../../lib/stream/done.js';
import { Shards } from '../../lib/redis/shard.js';

// `pipeline produce --wait`: real redis-server; the ends come from real workers, or are written by
// the completion writers themselves (lib/stream/done.ts) where a test needs a chosen end.

const { server, redis } = await redisForFile(test, { appendonly: true, appendfsync: 'always' });
const SETTINGS = { maxLen: 100_000, statusTtlMs: 60_000 };

const lines = (ids: readonly string[]) => ids.map((id) => JSON.stringify({ id, title: `item ${id}` })).join('\n') + '\n';
const ends = (ids: readonly string[], status: Completion['status'] = 'stored', reason?: string): Completion[] =>
  ids.map((key) => ({ key, status, stage: 'store', ...(reason ? { reason } : {}) }));

/** The `produce.waited` JSON line of a run's output. */
function waited(out: string): Record<string, unknown> & { ids: number; stored: number; review: number; waiting: number; deadLettered: Record<string, number> } {
  const line = out.split('\n').find((l) => l.includes('"produce.waited"'));
  assert.ok(line, `a produce.waited line in:\n${out}`);
  return JSON.parse(line) as never;
}

/** A produce --wait child; its input file and config removed after. */
async function produceWait(pipeline: string, ids: readonly string[], args: string[], url = server.url, extra: Record<string, unknown> = {}) {
  const config = writeConfig(pipeline, FAST, extra);
  const input = join(tmpdir(), `${pipeline}-${Math.random().toString(36).slice(2)}.jsonl`);
  writeFileSync(input, lines(ids));
  const child = cli(['--config', config, 'produce', input, '--rejects', '/dev/null', ...args], url);
  const done = async (ms: number) => {
    const code = await exitedWithin(child, ms);
    if (code === 'running') child.kill('SIGKILL');
    rmSync(config, { force: true });
    rmSync(input, { force: true });
    return code;
  };
  return { child, done, produced: () => waitFor('the records in', () => child.output().includes('"produce.done"'), 15_000) };
}

test('real workers: exit 0 once every distinct id is stored, the same id twice counted once, ends however fast the pipeline', async () => {
  const pipeline = randomPipeline();
  const workers = startWorkers(rulesOnlyConfig(server.url, pipeline));
  try {
    const ids = Array.from({ length: 40 }, (_, i) => `w${i}`);
    const run = await produceWait(pipeline, [...ids, 'w3', 'w7'], ['--wait', '--wait-timeout', '20000', '--batch', '10']);
    const code = await run.done(25_000);
    const out = run.child.output();
    assert.is(code, 0, out);
    const w = waited(out);
    assert.equal([w.ids, w.stored, w.review, w.waiting], [40, 40, 0, 0], out);
    assert.match(out, /40 ids sent by this run: 40 stored, 0 review, 0 dead-lettered/);
  } finally {
    await stopAll(workers);
  }
});

test('sharded: dead-lettered ends are exit 4 with their reasons and ids; in flight at --wait-timeout is exit 5 naming them', async () => {
  const pipeline = randomPipeline();
  const shards = new Shards(pipeline, 2);
  const run = await produceWait(pipeline, ['a1', 'a2', 'a3', 'a4', 'a5'], ['--wait'], server.url, { shards: 2 });
  await run.produced();
  await recordCompletions(
    redis,
    shards,
    [...ends(['a1', 'a2']), ...ends(['a3'], 'review', 'review'), ...ends(['a4', 'a5'], 'dead_lettered', 'max_deliveries')],
    SETTINGS,
  );
  const code = await run.done(15_000);
  const out = run.child.output();
  assert.is(code, 4, out);
  const w = waited(out);
  assert.equal([w.ids, w.stored, w.review, w.waiting, w.deadLettered], [5, 2, 1, 0, { max_deliveries: 2 }], out);
  assert.match(out, /dead-lettered: a[45], a[45] \(pipeline dlq list\)/);

  const late = await produceWait(randomPipeline(), ['b1', 'b2'], ['--wait', '--wait-timeout', '1500']);
  const code2 = await late.done(15_000);
  assert.is(code2, 5, late.child.output());
  assert.equal(waited(late.child.output()).waiting, 2);
  assert.match(late.child.output(), /2 still in flight after --wait-timeout 1500 ms\n {2}in flight: b1, b2/);
});

test('revoked ends (`pipeline revoke`) end the wait: counted as revoked with their ids, exit 0', async () => {
  const pipeline = randomPipeline();
  const shards = new Shards(pipeline, 1);
  const run = await produceWait(pipeline, ['v1', 'v2', 'v3'], ['--wait', '--wait-timeout', '10000']);
  await run.produced();
  await recordCompletions(redis, shards, [...ends(['v1']), ...ends(['v2', 'v3'], 'revoked', 'withdrawn')], SETTINGS);
  const code = await run.done(15_000);
  const out = run.child.output();
  assert.is(code, 0, out);
  const w = waited(out);
  assert.equal([w.ids, w.stored, w.revoked, w.waiting], [3, 1, 2, 0], out);
  assert.match(out, /3 ids sent by this run: 1 stored, 0 review, 2 revoked, 0 dead-lettered/);
  assert.match(out, /revoked: v[23], v[23] \(pipeline revoke\)/);
});

test('a resumed --run-id run waits for the records an earlier invocation sent: ended ones by their status, the rest as they end', async () => {
  const pipeline = randomPipeline();
  const shards = new Shards(pipeline, 1);
  const first = await produceWait(pipeline, ['c1', 'c2', 'c3'], ['--run-id', 'feed-1']);
  assert.is(await first.done(15_000), 0, first.child.output());
  await recordCompletions(redis, shards, ends(['c1', 'c2']), SETTINGS); // ended before the resumed run starts
  const run = await produceWait(pipeline, ['c1', 'c2', 'c3', 'c4'], ['--run-id', 'feed-1', '--wait', '--wait-timeout', '10000']);
  await run.produced();
  await recordCompletions(redis, shards, ends(['c3', 'c4']), SETTINGS);
  const code = await run.done(15_000);
  const out = run.child.output();
  assert.is(code, 0, out);
  assert.match(out, /"skipped":3/);
  const w = waited(out);
  assert.equal([w.ids, w.stored, w.waiting], [4, 4, 0], out);
});

test('a Redis restart while waiting: the wait goes on, and a completion written twice is counted once', async () => {
  const pipeline = randomPipeline();
  const shards = new Shards(pipeline, 1);
  const ids = ['d1', 'd2', 'd3', 'd4'];
  const run = await produceWait(pipeline, ids, ['--wait', '--wait-timeout', '20000']);
  await run.produced();
  await recordCompletions(redis, shards, ends(['d1', 'd2']), SETTINGS);
  await server.restart();
  await waitFor('redis back', async () => (await redis.ping().catch(() => '')) === 'PONG');
  await recordCompletions(redis, shards, [...ends(['d1', 'd2']), ...ends(['d3', 'd4'])], SETTINGS);
  const code = await run.done(20_000);
  const out = run.child.output();
  assert.is(code, 0, out);
  const w = waited(out);
  assert.equal([w.ids, w.stored, w.waiting], [4, 4, 0], out);
});

test('off a terminal (CI, cron) the wait says where it stands every --progress-every ms on stderr: text, or JSON with --json', async () => {
  const pipeline = randomPipeline();
  const shards = new Shards(pipeline, 1);
  const progress = (out: string) => out.split('\n').filter((l) => l.startsWith('produce: waiting: '));
  const run = await produceWait(pipeline, ['f1', 'f2', 'f3'], ['--wait', '--wait-timeout', '20000', '--progress-every', '200']);
  await run.produced();
  await waitFor('two progress lines', () => progress(run.child.output()).length >= 2, 5_000);
  assert.match(
    progress(run.child.output())[0]!,
    /^produce: waiting: 3 ids {2}stored 0 {2}review 0 {2}revoked 0 {2}dead-lettered 0 {2}in flight 3 {2}\(\d+ s\)$/,
  );
  await recordCompletions(redis, shards, ends(['f1']), SETTINGS);
  await waitFor('a line with f1 stored', () => progress(run.child.output()).some((l) => l.includes('stored 1 ')), 5_000);
  await recordCompletions(redis, shards, ends(['f2', 'f3']), SETTINGS);
  assert.is(await run.done(15_000), 0, run.child.output());

  const json = await produceWait(randomPipeline(), ['g1', 'g2'], ['--wait', '--wait-timeout', '1200', '--progress-every', '300', '--json']);
  assert.is(await json.done(15_000), 5, json.child.output());
  const lines = json.child
    .output()
    .split('\n')
    .filter((l) => l.includes('"produce.waiting"'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.ok(lines.length >= 2, json.child.output());
  assert.equal({ ...lines[0], seconds: 0 }, { event: 'produce.waiting', ids: 2, stored: 0, review: 0, revoked: 0, deadLettered: {}, waiting: 2, seconds: 0 });
  assert.ok((lines.at(-1)!.seconds as number) > (lines[0]!.seconds as number), 'seconds since the wait began');
  assert.not.match(json.child.output(), /produce: waiting: /, 'no text lines with --json');

  const quiet = await produceWait(randomPipeline(), ['h1'], ['--wait', '--wait-timeout', '800', '--progress-every', '0']);
  assert.is(await quiet.done(15_000), 5, quiet.child.output());
  assert.not.match(quiet.child.output(), /produce: waiting: |produce\.waiting/, '0: no progress line');
});

/** A proxy to the server whose connections stop getting replies once they send XREAD: the wait's readers fall behind. */
async function xreadHoldingProxy(port: number): Promise<{ url: string; close: () => void }> {
  const sockets = new Set<Socket>();
  const proxy = createServer((a) => {
    const b = connect(port, '127.0.0.1');
    let held = false;
    sockets.add(a).add(b);
    a.on('data', (d: Buffer) => {
      if (/\bxread\b/i.test(d.toString('latin1'))) held = true;
      b.write(d);
    });
    b.on('data', (d: Buffer) => held || a.write(d));
    const close = () => (a.destroy(), b.destroy());
    a.on('close', close).on('error', close);
    b.on('close', close).on('error', close);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const { port: p } = proxy.address() as { port: number };
  return { url: `redis://127.0.0.1:${p}`, close: () => (proxy.close(), sockets.forEach((s) => s.destroy())) };
}

test("completions trimmed from {p}:done before the wait read them: found by the ids' status keys, not waited out", async () => {
  const pipeline = randomPipeline();
  const shards = new Shards(pipeline, 1);
  const proxy = await xreadHoldingProxy(server.port);
  try {
    const run = await produceWait(pipeline, ['e1', 'e2', 'e3'], ['--wait', '--wait-timeout', '20000'], proxy.url);
    await run.produced();
    const t0 = Date.now();
    await recordCompletions(redis, shards, ends(['e1', 'e2', 'e3']), SETTINGS);
    await redis.xtrim(shards.all[0]!.done, 'MAXLEN', 0);
    await recordCompletions(redis, shards, ends(['other']), SETTINGS); // later traffic
    const code = await run.done(20_000);
    const out = run.child.output();
    assert.is(code, 0, out);
    assert.ok(Date.now() - t0 < 10_000, 'not waited out to --wait-timeout');
    assert.match(out, /was trimmed \(limits.doneMaxLen\) past what this wait had read: 3 ids found ended by their status keys/);
    assert.equal([waited(out).stored, waited(out).waiting], [3, 0], out);
  } finally {
    proxy.close();
  }
});

test.run();
