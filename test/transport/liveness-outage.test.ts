/**
 * The alive keys (`aliveTtlMs`) after a Redis outage: every consumer's key lapses while Redis is
 * down, though no worker died. Two `pipeline worker` processes (outside `pipeline up`) hold their
 * batches in the stage across a Redis restart longer than `aliveTtlMs`; a reclaimer pass in flight
 * is sent again on the reconnect and finds every key gone. The reclaimer hands nothing over for
 * `aliveTtlMs` plus the longest reconnect delay after its own connections had trouble
 * (lib/worker/reclaimer.ts `unsettled`), by which time the others are back and beating: no entry
 * changes owner, each record is stored once.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { produce } from '../../lib/producer/producer.js';
import { Keys } from '../../lib/redis/keys.js';
import { cli, exited, FAST, stageThenStore } from '../helpers/pipeline.js';
import { events } from '../helpers/processes.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test, { appendonly: true, appendfsync: 'always' });
redis.on('error', () => {}); // while the server is down: it reconnects

const STAGE = {
  ...FAST,
  batchSize: 2,
  /** Only a hand-over could move an entry within the test. */
  claimMinIdleMs: 60_000,
  /** No idle-time reset of the held batches during the test: only the alive keys protect them. */
  keepClaimedMs: 20_000,
  watchdogIntervalMs: 200,
  aliveTtlMs: 600,
  /** A check on nearly every pass, so one is in flight when Redis goes down. */
  livenessHandoverMs: 100,
};
const RECORDS = 4;
/** What a worker process needs from spawn to `worker.started` (tsx, on a shared 2-core machine). */
const START_MS = 30_000;

/** A stage module that holds every batch until the file `release` exists (polled every 20 ms). */
function holdingModule(release: string): string {
  const file = join(tmpdir(), `hold-stage-${process.pid}-${Math.random().toString(16).slice(2)}.mjs`);
  writeFileSync(
    file,
    `import { existsSync } from 'node:fs';
export function createStage() {
  return {
    kind: 'hold',
    async process(batch) {
      while (!existsSync(${JSON.stringify(release)})) await new Promise((r) => setTimeout(r, 20));
      return batch.map(() => ({ ok: true, output: { held: true } }));
    },
  };
}
`,
  );
  return file;
}

test('a Redis restart longer than aliveTtlMs: no live worker loses its held batch to a sibling, each record stored once', async () => {
  const pipeline = randomPipeline('lo');
  const keys = new Keys(pipeline);
  const release = join(tmpdir(), `${pipeline}-release`);
  const module = holdingModule(release);
  const file = join(tmpdir(), `${pipeline}-config.json`);
  writeFileSync(file, JSON.stringify(stageThenStore(pipeline, { name: 'hold', kind: `module:${module}` }, STAGE)));
  const ids = Array.from({ length: RECORDS }, (_, i) => `o${i}`);
  const workers = [0, 1].map(() => cli(['--config', file, 'worker', 'hold,store'], server.url));
  const pending = async () => (await redis.xpending(keys.stream('in'), 'hold', '-', '+', 100)) as [string, string, number, number][];
  try {
    await waitFor('both workers reading', () => workers.every((w) => events(w.output(), 'worker.started').some((e) => e.stage === 'hold')), START_MS);
    const records = ids.map((id, i) => JSON.stringify({ id, title: `item ${i}`, mpn: `MX-${i}` })).join('\n');
    await produce(redis, Readable.from([records]), { stream: keys.stream('in'), source: 'test', maxRecordBytes: 65536 });
    await waitFor('every record held in a stage', async () => (await pending()).length === RECORDS, 10_000);
    const holders = [...new Set((await pending()).map((r) => r[1]))];
    const aliveKeys = holders.map((c) => keys.livenessAlive('hold', c));
    await waitFor('the holders beating', async () => (await redis.exists(...aliveKeys)) === aliveKeys.length, 5_000);
    const owners = new Map((await pending()).map((r) => [r[0], r[1]]));

    // Down past the alive keys' expiry (absolute in the AOF), then back on the same port.
    const ttls = await Promise.all(aliveKeys.map((k) => redis.pttl(k)));
    const expiredAt = Date.now() + Math.max(...ttls) + 100;
    await server.stop('SIGTERM');
    await waitFor('the alive keys past their expiry', () => Date.now() > expiredAt, STAGE.aliveTtlMs * 3);
    await server.start();
    await waitFor('both workers reconnected', () => workers.every((w) => events(w.output(), 'redis.reconnected').length > 0), 15_000);
    await waitFor('the holders beating again', async () => (await redis.exists(...aliveKeys)) === aliveKeys.length, 10_000);

    assert.equal(
      workers.flatMap((w) => events(w.output(), 'reclaim.handed_over')),
      [],
      'no hand-over of a live worker',
    );
    const after = await pending();
    assert.equal(new Map(after.map((r) => [r[0], r[1]])), owners, 'each entry still with the worker holding it');
    writeFileSync(release, '');
    await waitFor('every record stored', async () => (await redis.scard(keys.products)) === RECORDS, 10_000);
    const copies = await Promise.all(ids.map((id) => redis.hget(keys.product(id), 'copies')));
    assert.equal(
      copies,
      ids.map(() => '1'),
      'each product written once',
    );
  } finally {
    await Promise.all(workers.map((w) => (w.exitCode !== null || w.signalCode !== null ? undefined : (w.kill('SIGKILL'), exited(w)))));
    for (const f of [file, module, release]) rmSync(f, { force: true });
  }
});

test.run();
