import { rmSync } from 'node:fs';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { produce } from '../../lib/producer/producer.js';
import { Keys } from '../../lib/redis/keys.js';
import { cli, exited, FAST, writeConfig } from '../helpers/pipeline.js';
import { hogAllClientSlots, randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const MAX_CLIENTS = 8;
const { server, redis } = await redisForFile(test, { settings: { maxclients: String(MAX_CLIENTS) } });
await redis.ping();

/** Named pipeline connections per process (`stage:consumer`), from CLIENT LIST. */
async function perProcess(): Promise<Map<string, number>> {
  const m = new Map<string, number>();
  for (const line of ((await redis.client('LIST')) as string).trim().split('\n')) {
    const name = /\bname=(\S*)/.exec(line)?.[1] ?? '';
    const hit = /^(.+):(cmd|read)$/.exec(name);
    if (hit) m.set(hit[1]!, (m.get(hit[1]!) ?? 0) + 1);
  }
  return m;
}

test('at maxclients, workers back off with jitter and retry, log it, and consume once connections free up: nothing lost or duplicated, never more than 2 connections per process', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  const N = 1000;
  const config = writeConfig(pipeline, FAST);
  const lines = Array.from({ length: N }, (_, i) => JSON.stringify({ id: `m${i}`, title: `item ${i}`, ...(i % 2 ? { mpn: `MX-${i}` } : {}) })).join('\n');
  await produce(redis, Readable.from([lines]), { stream: keys.stream('in'), source: 'test', maxRecordBytes: 65536 });

  // Take every free client slot.
  const hogs = await hogAllClientSlots(server.port);
  assert.ok(hogs.length >= MAX_CLIENTS - 2, `the server is full (${hogs.length} hogs)`);

  let maxPerProcess = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      for (const n of (await perProcess()).values()) maxPerProcess = Math.max(maxPerProcess, n);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const workers = ['preprocess', 'validate', 'store'].map((s) => cli(['--config', config, 'worker', s], server.url));
  try {
    await waitFor(
      'every worker logs its refused connections',
      () => workers.every((w) => /"event":"redis\.(connection_error|reconnecting)"/.test(w.output())),
      30_000,
    );
    await new Promise((r) => setTimeout(r, 1_500)); // they keep retrying, and nothing is consumed meanwhile
    assert.is(await redis.scard(keys.products), 0, 'no worker could work while the server was full');
    assert.ok(
      workers.every((w) => w.exitCode === null),
      'no worker crashed',
    );

    // Free the slots a few at a time.
    while (hogs.length > 0) {
      hogs.pop()!.destroy();
      await new Promise((r) => setTimeout(r, 200));
    }
    await waitFor('all stored', async () => (await redis.scard(keys.products)) === N, 60_000);
  } finally {
    sampling = false;
    await sampler;
    for (const h of hogs) h.destroy();
    for (const w of workers) w.kill('SIGTERM');
    await Promise.all(workers.map(exited));
    rmSync(config, { force: true });
  }
  assert.ok(maxPerProcess <= 2, `a process held ${maxPerProcess} connections`);
  assert.is(maxPerProcess, 2, 'the sampler saw the workers connected');
  const copies = await Promise.all(Array.from({ length: N }, (_, i) => redis.hget(keys.product(`m${i}`), 'copies')));
  assert.equal(
    copies.filter((c) => c !== '1'),
    [],
    'every record stored exactly once',
  );
  assert.is(await redis.xlen(keys.dlq), 0);
  const logs = workers.map((w) => w.output()).join('\n');
  assert.match(logs, /"event":"redis\.reconnected"/, 'the reconnect is logged');
  const delays = [...logs.matchAll(/"event":"redis\.reconnecting"[^\n]*"delayMs":(\d+)/g)].map((m) => Number(m[1]));
  assert.ok(new Set(delays).size > 1, `jittered reconnect delays (${delays.join(', ')})`);
});

test.run();
