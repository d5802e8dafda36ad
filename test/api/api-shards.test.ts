/**
 * The HTTP API on a sharded pipeline (config `shards` = 3) on one redis-server: each record goes to
 * its shard's input stream and status key (the hash `pipeline produce` uses), completions come from
 * every shard's `{p:N}:done` (one reader per shard), GET reads the id's shard, a 429 names the
 * record's shard, and `GET /v1/events` is one stream over every shard whose `Last-Event-ID`
 * (a position: one stream id per shard) resumes with none twice and none skipped.
 * `pipeline serve` had refused a sharded config at start.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { FastifyInstance } from 'fastify';
import type { ResolvedConfig } from '../../lib/config/types.js';
import type { ApiLimits } from '../../lib/api/options.js';
import { configShards, shardOf } from '../../lib/redis/shard.js';
import { productReader, startServer } from '../../scripts/commands/serve.js';
import { rulesOnlyConfig, startWorkers, stopAll } from '../helpers/pipeline.js';
import { listeningApi } from '../helpers/api-server.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';
import { openEvents } from '../helpers/sse-stream.js';

const SHARDS = 3;
const { server, redis } = await redisForFile(test);
const TOKEN = 'admin-token-0123456789a';
const H = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
const sharded = (): ResolvedConfig => ({ ...rulesOnlyConfig(server.url, randomPipeline('sh')), shards: SHARDS });
/** `n` ids per shard (`prefix` + a number), so every shard gets records. */
const idsPerShard = (prefix: string, n: number): string[][] => {
  const out = Array.from({ length: SHARDS }, () => [] as string[]);
  for (let i = 0; out.some((ids) => ids.length < n); i++) {
    const id = `${prefix}${i}`;
    const on = out[shardOf(id, SHARDS)]!;
    if (on.length < n) on.push(id);
  }
  return out;
};
const record = (id: string) => ({ id, title: `SanDisk Ultra 64GB USB 3.0 Flash Drive SDCZ48-064G-A46 ${id}` });

const listening = (config: ResolvedConfig, limits: Partial<ApiLimits> = {}): Promise<{ app: FastifyInstance; base: string }> =>
  listeningApi(config, TOKEN, { limits, productReader });

test("3 shards: submit puts each record on its shard (input stream, queued status), enrich answers from every shard, GET reads the id's shard; 1 + 3 connections", async () => {
  const config = sharded();
  const shards = configShards(config);
  const { app, base } = await listening(config);
  let workers: ReturnType<typeof startWorkers> = [];
  try {
    const ids = idsPerShard('q', 4).flat();
    const r = await fetch(`${base}/v1/products`, { method: 'POST', headers: H, body: JSON.stringify(ids.map(record)) });
    assert.is(r.status, 202);
    assert.equal(((await r.json()) as { accepted: string[] }).accepted, ids, 'every record accepted, listed in request order');
    for (const [i, k] of shards.all.entries()) assert.is(await redis.xlen(k.stream(config.input)), 4, `shard ${i}'s input stream has its 4 records`);
    for (const id of ids) {
      const own = shards.keysFor(id);
      assert.ok(await redis.exists(own.status(id)), `${id}: queued status on its shard`);
      const g = (await (await fetch(`${base}/v1/products/${id}`, { headers: H })).json()) as { status: string };
      assert.is(g.status, 'queued', `${id}: known before any worker (it had been 404 off shard 0)`);
    }
    const names = String(await redis.client('LIST'))
      .split('\n')
      .flatMap((l) => /name=(api:\S+)/.exec(l)?.[1] ?? [])
      .sort();
    assert.equal(names, ['api:cmd', 'api:done:0', 'api:done:1', 'api:done:2'], 'one command connection and one completions reader per shard');

    workers = startWorkers(config);
    // Enrich waits on the completion of its id's shard: records on every shard, concurrently.
    const more = idsPerShard('e', 3).flat();
    const answers = await Promise.all(
      more.map(async (id) => {
        const a = await fetch(`${base}/v1/enrich?timeout_ms=20000`, { method: 'POST', headers: H, body: JSON.stringify(record(id)) });
        return { code: a.status, body: (await a.json()) as { id: string; status: string; product?: { key: string } } };
      }),
    );
    for (const [i, a] of answers.entries()) assert.equal([a.code, a.body.status, a.body.product?.key], [200, 'stored', more[i]], `enrich ${more[i]}`);
    await waitFor('the submitted records stored', async () => {
      const got = await Promise.all(
        ids.map(async (id) => ((await (await fetch(`${base}/v1/products/${id}`, { headers: H })).json()) as { status: string }).status),
      );
      return got.every((s) => s === 'stored');
    });
    const one = (await (await fetch(`${base}/v1/products/${ids.at(-1)}`, { headers: H })).json()) as { product: { key: string } };
    assert.is(one.product.key, ids.at(-1), 'the product read from its shard');
    assert.is((await fetch(`${base}/readyz`)).status, 200);
  } finally {
    await stopAll(workers);
    await app.close();
  }
});

test('3 shards: a 429 names the shard behind, and only records of that shard are refused', async () => {
  const config = sharded();
  config.stages[0]!.maxLag = 3;
  const { app, base } = await listening(config);
  try {
    const [on0, on1] = idsPerShard('b', 5);
    // No workers: shard 1's input lag grows past its maxLag.
    assert.is((await fetch(`${base}/v1/products`, { method: 'POST', headers: H, body: JSON.stringify(on1!.slice(0, 4).map(record)) })).status, 202);
    const refused = await fetch(`${base}/v1/enrich?timeout_ms=100`, { method: 'POST', headers: H, body: JSON.stringify(record(on1![4]!)) });
    assert.is(refused.status, 429);
    assert.ok(refused.headers.get('retry-after'), 'Retry-After');
    const body = (await refused.json()) as { error: string; shard?: string; lag: number; maxLag: number; message: string };
    assert.equal([body.error, body.shard, body.lag, body.maxLag], ['backlog', `{${config.pipeline}:1}`, 4, 3]);
    assert.match(body.message, 'shard 1 of 3');
    // A request with a record on shard 1 is refused whole; one on shard 0 alone is taken.
    const mixed = await fetch(`${base}/v1/products`, { method: 'POST', headers: H, body: JSON.stringify([record(on0![0]!), record(on1![4]!)]) });
    assert.is(mixed.status, 429);
    const other = await fetch(`${base}/v1/products`, { method: 'POST', headers: H, body: JSON.stringify([record(on0![0]!)]) });
    assert.is(other.status, 202, 'shard 0 is not behind: its records are taken');
  } finally {
    await app.close();
  }
});

test('3 shards: /v1/events streams every shard; Last-Event-ID resumes per shard with none twice and none skipped, also from an id sent during a catch-up; a plain id resumes every shard', async () => {
  const config = sharded();
  const { app, base } = await listening(config, { ssePageSize: 7 });
  const workers = startWorkers(config);
  const streams: { close(): Promise<void> }[] = [];
  const post = async (ids: string[]) =>
    assert.is((await fetch(`${base}/v1/products`, { method: 'POST', headers: H, body: JSON.stringify(ids.map(record)) })).status, 202);
  try {
    const live = await openEvents(base, H);
    streams.push(live);
    const first = idsPerShard('v', 20).flat();
    await post(first);
    await waitFor('60 live events', () => live.frames.length >= 60);
    assert.equal(new Set(live.keys()), new Set(first), 'every completion of every shard');
    assert.equal(new Set(live.frames.map((f) => f.data.shard)), new Set([0, 1, 2]), 'events name their shard');
    assert.ok(
      live.frames.every((f) => f.id.split(',').length === SHARDS && f.id.split(',')[f.data.shard!] === f.data.id),
      'each event id is a position of one stream id per shard, its own entry in its shard',
    );

    // Resume from the 25th event, while more complete: the 35 after it (caught up shard by shard), then the new ones.
    const cut = 24;
    const resumed = await openEvents(base, H, live.frames[cut]!.id);
    streams.push(resumed);
    const second = idsPerShard('w', 10).flat();
    await post(second);
    const want = [...live.keys().slice(cut + 1, 60), ...second];
    await waitFor(`${want.length} resumed events`, () => resumed.frames.length >= want.length);
    await waitFor('90 live events', () => live.frames.length >= 90);
    assert.is(live.frames.length, 90, 'the live stream got each once');
    assert.is(resumed.frames.length, want.length, 'none twice');
    assert.equal(new Set(resumed.keys()), new Set(want), 'none skipped');

    // From an id written during that catch-up: exactly what came after it there.
    const again = await openEvents(base, H, resumed.frames[10]!.id);
    streams.push(again);
    await waitFor('the rest of the resumed stream', () => again.frames.length >= want.length - 11);
    assert.equal(again.keys().sort(), resumed.keys().slice(11).sort(), 'none twice, none skipped');

    // One plain stream id (an unsharded pipeline's) stands for every shard: 0-0 replays them all.
    const all = await openEvents(base, H, '0-0');
    streams.push(all);
    await waitFor('every event', () => all.frames.length >= 90);
    assert.equal(all.keys().sort(), [...first, ...second].sort());
    const wrong = await fetch(`${base}/v1/events?last_event_id=1-0,2-0`, { headers: H });
    assert.is(wrong.status, 400, 'two ids for three shards');
    assert.match(((await wrong.json()) as { message: string }).message, '3 shards');
  } finally {
    for (const s of streams) await s.close();
    await stopAll(workers);
    await app.close();
  }
});

test("3 shards: a resumed client whose catch-up ran ahead of a held-up shard's reader gets each event once, and the ids it is sent resume exactly", async () => {
  const config = sharded();
  const { app, base } = await listening(config, { ssePageSize: 4 });
  const workers = startWorkers(config);
  const streams: { close(): Promise<void> }[] = [];
  const post = async (ids: string[]) =>
    assert.is((await fetch(`${base}/v1/products`, { method: 'POST', headers: H, body: JSON.stringify(ids.map(record)) })).status, 202);
  const done = (ids: string[]) => async () => (await Promise.all(ids.map((id) => redis.exists(configShards(config).keysFor(id).status(id))))).every(Boolean);
  // Shard 1's completions reader, held: its socket not read (the replies wait in the kernel), as a slow or far master would.
  const held = (app.pipeline.connections.reader('done:1') as unknown as { stream: { pause(): void; resume(): void } }).stream;
  try {
    const live = await openEvents(base, H);
    streams.push(live);
    const first = idsPerShard('x', 5).flat();
    await post(first);
    await waitFor('15 live events', () => live.frames.length >= 15);
    held.pause();
    const second = idsPerShard('y', 5).flat();
    await post(second);
    await waitFor(
      'the second batch stored',
      async () =>
        (await done(second)()) &&
        (await Promise.all(second.map((id) => redis.get(configShards(config).keysFor(id).status(id))))).every((v) => v?.includes('stored')),
    );
    // Resumed from the 5th event: its catch-up reads shard 1's new entries, which the held reader has not handed out.
    const resumed = await openEvents(base, H, live.frames[4]!.id);
    streams.push(resumed);
    const caughtUp = [...live.keys().slice(5, 15), ...second];
    await waitFor('the catch-up', () => resumed.frames.length >= caughtUp.length);
    // Live events of shards 0 and 2 while the client is ahead on shard 1, then the held reader goes on.
    const third = idsPerShard('z', 3);
    await post([...third[0]!, ...third[2]!]);
    await waitFor('shards 0 and 2 live', () => resumed.frames.length >= caughtUp.length + 6);
    held.resume();
    await post(third[1]!);
    const want = [...caughtUp, ...third[0]!, ...third[2]!, ...third[1]!];
    await waitFor('every event', () => resumed.frames.length >= want.length && live.frames.length >= 15 + 15 + 9);
    assert.is(resumed.frames.length, want.length, "none twice (shard 1's held entries were read by the catch-up already)");
    assert.equal(new Set(resumed.keys()), new Set(want), 'none skipped');
    // Resuming from an event sent while it was ahead: exactly what followed it.
    const at = caughtUp.length + 1;
    assert.ok([0, 2].includes(resumed.frames[at]!.data.shard!), 'an event of shard 0 or 2 sent while ahead on shard 1');
    const again = await openEvents(base, H, resumed.frames[at]!.id);
    streams.push(again);
    await waitFor('the rest', () => again.frames.length >= want.length - at - 1);
    assert.equal(
      again.keys().sort(),
      resumed
        .keys()
        .slice(at + 1)
        .sort(),
      "none twice: its id held the client's shard 1 position, not the reader's",
    );
  } finally {
    held.resume();
    for (const s of streams) await s.close();
    await stopAll(workers);
    await app.close();
  }
});

test('startServer on a sharded config serves the API and the console together', async () => {
  const config = sharded();
  const app = await startServer(config, { host: '127.0.0.1', port: 0, limits: { completionsBlockMs: 100 } });
  try {
    await waitFor('completions readers', () => app.pipeline.redis.status === 'ready' && app.pipeline.completions.following, 5_000);
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    const r = await fetch(`${base}/v1/products`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(record('c1')) });
    assert.is(r.status, 202, 'the API serves');
    assert.is((await fetch(`${base}/console/api/me`)).status, 200, 'the console serves too');
  } finally {
    await app.close();
  }
});

test.run();
