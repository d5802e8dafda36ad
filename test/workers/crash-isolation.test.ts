/**
 * A record that crashes its worker process (a model that aborts on one input) must not take the
 * rest of its batch to the dead-letter stream: entries reclaimed from a consumer that stopped
 * holding them run one per batch (lib/stream/retry-queue.ts `alone`), so the innocent ones go
 * through on their next delivery and only the poison one reaches maxDeliveries.
 */
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { produce } from '../../lib/producer/producer.js';
import { Keys } from '../../lib/redis/keys.js';
import { RetryQueue } from '../../lib/stream/retry-queue.js';
import type { RawEntry } from '../../lib/stream/entries.js';
import { exited, FAST, stageThenStore } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);
const ROOT = resolve(import.meta.dirname, '../..');

test('takeDue: an entry to run alone comes by itself, and is not added to a batch of others', () => {
  const q = new RetryQueue();
  const entry = (id: string) => ({ id, fields: [] }) as unknown as RawEntry;
  q.add({ entry: entry('1-1'), attempt: 1, dueAt: 0 });
  q.add({ entry: entry('1-2'), attempt: 2, dueAt: 0, alone: true });
  q.add({ entry: entry('1-3'), attempt: 1, dueAt: 0 });
  q.add({ entry: entry('1-4'), attempt: 2, dueAt: 0, alone: true });
  const ids = () => q.takeDue(10).map((x) => x.entry.id);
  assert.equal(ids(), ['1-1', '1-3']);
  assert.equal(ids(), ['1-2']);
  assert.equal(ids(), ['1-4']);
  assert.equal(ids(), []);
});

/** A stage of the user's own whose process dies (exit 1, as an abort in native code would) on a batch holding a title with "poison". */
const CRASHING = join(tmpdir(), `crash-stage-${process.pid}.mjs`);
writeFileSync(
  CRASHING,
  `export function createStage() {
  return {
    kind: 'crashy',
    async process(batch) {
      if (batch.some((m) => m.envelope.input.title.includes('poison'))) process.exit(1);
      return batch.map(() => ({ ok: true, output: { fine: true } }));
    },
  };
}
`,
);
const CHILD = `
import { workerCommand } from '${ROOT}/scripts/commands/worker.ts';
await workerCommand(process.env.STAGES, { config: process.env.CONFIG });
`;

test('a record that crashes its worker: after the crash its batch is retried one record at a time; the 9 others are stored, only it is dead-lettered', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  const file = join(tmpdir(), `${pipeline}-crash.json`);
  const raw = stageThenStore(
    pipeline,
    { name: 'crashy', kind: `module:${CRASHING}` },
    { ...FAST, batchSize: 10, maxDeliveries: 3, claimMinIdleMs: 500, claimIntervalMs: 200 },
  );
  writeFileSync(file, JSON.stringify(raw));
  const lines = Array.from({ length: 10 }, (_, i) => JSON.stringify({ id: `c${i}`, title: i === 4 ? 'poison pill' : `fine ${i}` }));
  await produce(redis, Readable.from([lines.join('\n')]), { stream: keys.stream('in'), source: 'test', maxRecordBytes: 65536 });
  const store = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD], {
    cwd: ROOT,
    env: { ...process.env, REDIS_URL: server.url, CONFIG: file, STAGES: 'store' },
    stdio: 'ignore',
  });
  try {
    // A supervisor's restarts: a new crashy worker each time the last one died, until the pipeline settles.
    let crashes = 0;
    const settled = async () => (await redis.scard(keys.products)) + (await redis.xlen(keys.dlq)) === 10;
    for (let run = 0; run < 8 && !(await settled()); run++) {
      const w = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD], {
        cwd: ROOT,
        env: { ...process.env, REDIS_URL: server.url, CONFIG: file, STAGES: 'crashy' },
        stdio: 'ignore',
      });
      const code = await Promise.race([exited(w), waitFor('settled', settled, 20_000).then(() => 'settled' as const)]);
      if (code === 1) crashes++;
      if (code === 'settled') {
        w.kill('SIGTERM');
        await exited(w);
      }
    }
    await waitFor('all stored or dead-lettered', settled, 10_000);
    assert.ok(crashes >= 3, `the poison record crashed its worker ${crashes} times`);
    const dead = await redis.xrange(keys.dlq, '-', '+');
    assert.equal(
      dead.map(([, f]) => f[f.indexOf('k') + 1]),
      ['c4'],
      'only the poison record is dead-lettered',
    );
    assert.is(await redis.scard(keys.products), 9, 'the nine others are stored');
  } finally {
    store.kill('SIGTERM');
    await exited(store);
    rmSync(file, { force: true });
  }
});

test.after(async () => {
  rmSync(CRASHING, { force: true });
});
test.run();
