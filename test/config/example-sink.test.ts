/**
 * The sink contract (docs/extending.md) on its example, examples/price-normaliser/jsonl-sink.js:
 * `write` may get products again (at least once, same `entryId`), so a sink upserts by key with
 * the newest version winning. The example had appended blindly: a worker killed after its write
 * and before the ack left two lines for one product once the batch was delivered again.
 */
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { StoredProduct } from '../../stages/sinks/sink.js';
import type { StageContext } from '../../lib/worker/stage.js';
import { createSink } from '../../examples/price-normaliser/jsonl-sink.js';
import { Keys } from '../../lib/redis/keys.js';
import { cli, exited, FAST } from '../helpers/pipeline.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';

const EXAMPLE_SINK = resolve(import.meta.dirname, '../../examples/price-normaliser/jsonl-sink.js');
const dir = mkdtempSync(join(tmpdir(), 'example-sink-'));

const product = (key: string, entryId: string, version: string, amount: number): StoredProduct => ({
  key,
  entryId,
  version,
  traceId: 't',
  category: 'c',
  fields: {},
  doc: { outputs: { price: { amount, currency: 'EUR' } } },
  storedAt: 1,
});
/** The example's sink as a store stage of a config file in `dir` builds it. */
const sinkOn = async (file: string) => {
  const sink = createSink({ config: { source: join(dir, 'pipeline.json') }, stage: { name: 'store', settings: { file } } } as unknown as StageContext);
  await sink.init!();
  return sink;
};
/** The file's whole lines (a worker may be appending while the test reads: a last line without its newline is left out). */
const lines = (file: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .slice(0, -1)
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { key: string; price: { amount: number }; entryId: string });

test("a relative `file` is the config file's folder's, as every path in a config is, not the working directory's", async () => {
  const sink = await sinkOn('relative.jsonl');
  await sink.write([product('p1', '1-0', '10-0', 1)]);
  assert.equal(
    lines(join(dir, 'relative.jsonl')).map((l) => l.key),
    ['p1'],
  );
  assert.not.ok(existsSync(resolve('relative.jsonl')), 'written in the working directory');
});

test('a batch written again (by this sink or a restarted one) adds no line; an older version is dropped as stale, a newer one appended', async () => {
  const file = join(dir, 'unit.jsonl');
  const batch = [product('p1', '1-0', '10-0', 1), product('p2', '1-1', '10-1', 2)];
  const sink = await sinkOn(file);
  assert.equal(await sink.write(batch), { stale: 0 });
  assert.equal(await sink.write(batch), { stale: 0 });
  const restarted = await sinkOn(file);
  assert.equal(await restarted.write(batch), { stale: 0 });
  assert.equal(
    lines(file).map((l) => l.key),
    ['p1', 'p2'],
    'the re-delivered batch added lines',
  );
  assert.equal(await restarted.write([product('p1', '2-0', '9-0', 3)]), { stale: 1 }, 'an older version is stale');
  assert.equal(await restarted.write([product('p1', '3-0', '11-0', 4)]), { stale: 0 });
  assert.equal(
    lines(file).map((l) => [l.key, l.price.amount]),
    [
      ['p1', 1],
      ['p2', 2],
      ['p1', 4],
    ],
  );
});

test('a batch with two entries of one key written again adds no line (the sink had known only the last); the same id in another stream is another delivery', async () => {
  const file = join(dir, 'two-entries.jsonl');
  // One record that reached the store under two entries (one version), and another product.
  const batch = [
    { ...product('p1', '5-0', '10-0', 1), stream: 'store' },
    { ...product('p2', '5-1', '10-1', 2), stream: 'store' },
    { ...product('p1', '5-2', '10-0', 1), stream: 'store' },
  ];
  const sink = await sinkOn(file);
  assert.equal(await sink.write(batch), { stale: 0 });
  assert.equal(await sink.write(batch), { stale: 0 });
  assert.equal(await (await sinkOn(file)).write([batch[0]!]), { stale: 0 });
  assert.equal(
    lines(file).map((l) => [l.key, l.entryId]),
    [
      ['p1', '5-0'],
      ['p2', '5-1'],
      ['p1', '5-2'],
    ],
    'the re-delivered entries added lines',
  );
  assert.equal(await sink.write([{ ...product('p1', '5-0', '10-0', 1), stream: 'validate' }]), { stale: 0 });
  assert.is(lines(file).length, 4, 'the same entry id in another stream is written');
});

test('a line cut short by a crash mid-append is cut off at init, and the re-delivered product written whole', async () => {
  const file = join(dir, 'torn.jsonl');
  const sink = await sinkOn(file);
  await sink.write([product('p1', '1-0', '10-0', 1)]);
  appendFileSync(file, '{"key":"p2","pri');
  const restarted = await sinkOn(file);
  await restarted.write([product('p2', '1-1', '10-1', 2)]);
  assert.equal(
    lines(file).map((l) => l.key),
    ['p1', 'p2'],
  );
});

test('end to end: the store worker SIGKILLed after the sink wrote and before the ack; the batch re-delivered to a new worker leaves one line per product', async () => {
  const server = await startRedis();
  const redis = client(server.url);
  const pipeline = randomPipeline('sink');
  const out = join(dir, `${pipeline}.jsonl`);
  const wrote = join(dir, `${pipeline}.wrote`);
  // The first store worker's sink: the example's write, then a hang (the worker is killed there, before its ack).
  writeFileSync(
    join(dir, 'hang-sink.mjs'),
    `import { writeFileSync } from 'node:fs';
import { createSink as example } from ${JSON.stringify(EXAMPLE_SINK)};
export function createSink(ctx) {
  const sink = example(ctx);
  return { ...sink, name: 'hang', async write(products) { await sink.write(products); writeFileSync(${JSON.stringify(wrote)}, ''); await new Promise(() => {}); } };
}
`,
  );
  const config = (sink: string) => {
    const file = join(dir, `${pipeline}-${sink.replace(/\W/g, '')}.json`);
    const stages = [
      { name: 'preprocess', kind: 'preprocess', input: 'in' },
      { name: 'store', kind: 'store', settings: { sink, file: out } },
    ];
    writeFileSync(file, JSON.stringify({ pipeline, input: 'in', defaults: FAST, stages, routes: { preprocess: [{ to: 'store' }] } }));
    return file;
  };
  const records = Array.from({ length: 5 }, (_, i) => JSON.stringify({ id: `d${i}`, title: `Koss EQ50 3-Band Stereo Equalizer ${i}` })).join('\n') + '\n';
  const input = join(dir, `${pipeline}-in.jsonl`);
  writeFileSync(input, records);
  const pre = cli(['-c', config(`module:${EXAMPLE_SINK}`), 'worker', 'preprocess'], server.url);
  const first = cli(['-c', config(`module:${join(dir, 'hang-sink.mjs')}`), 'worker', 'store'], server.url);
  let second: ReturnType<typeof cli> | undefined;
  try {
    const producer = cli(['-c', config(`module:${EXAMPLE_SINK}`), 'produce', '--rejects', join(dir, 'rejects.jsonl'), input], server.url);
    assert.is(await exited(producer), 0, producer.output());
    await waitFor('the first store worker wrote a batch', () => existsSync(wrote), 30_000, 50);
    const before = lines(out).length;
    assert.ok(before > 0);
    first.kill('SIGKILL');
    await exited(first);
    second = cli(['-c', config(`module:${EXAMPLE_SINK}`), 'worker', 'store'], server.url);
    const keys = new Keys(pipeline);
    const storePending = async () => Number((await redis.xpending(keys.stream('store'), 'store'))[0]);
    const allKeys = () => new Set(lines(out).map((l) => l.key)).size === 5;
    await waitFor('every product stored and the killed batch re-delivered and acked', async () => allKeys() && (await storePending()) === 0, 30_000, 50);
    assert.match(second.output(), /"event":"reclaim\.claimed"/, 'the written batch was not delivered again');
    const keysWritten = lines(out)
      .map((l) => l.key)
      .sort();
    assert.equal(keysWritten, ['d0', 'd1', 'd2', 'd3', 'd4'], 'a product written twice');
  } finally {
    const running = [pre, first, second].filter((w) => w !== undefined && w.exitCode === null && w.signalCode === null);
    for (const w of running) w!.kill('SIGTERM');
    await Promise.all(running.map((w) => exited(w!)));
    redis.disconnect();
    await server.close();
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
