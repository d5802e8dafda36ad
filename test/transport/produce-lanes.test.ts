/**
 * The producer's lanes (lib/producer/lane.ts), on one redis-server: a run feeding two streams (as
 * a sharded pipeline's shards) whose lane for one of them is held (its shard's backpressure, the
 * `beforeBatch` of that stream alone) goes on writing the other's records, reads ahead only up to
 * `laneBufferBytes` for the held lane and then waits, and once the lane is let go every record is
 * in its stream once, in input order. Before, a batch went to all its streams together and the
 * run waited for all of them: one held shard held every shard.
 */
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { produce } from '../../lib/producer/producer.js';
import { Keys } from '../../lib/redis/keys.js';
import { encodeEnvelope, newEnvelope } from '../../lib/stream/codec.js';
import { validateRecord } from '../../lib/producer/record.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { redis } = await redisForFile(test);

const RECORDS = 4_000;
const BATCH = 20;
/** What the held lane may hold: some 300 of its records (about 100 bytes each encoded), a small part of the input. */
const LANE_BYTES = 32_768;

/** The encoded size of a record as lines() makes it (what the lane's bound counts). */
const envelopeBytes = (id: string) => encodeEnvelope(newEnvelope(validateRecord({ id, title: `item ${id.slice(1)}` }, 65536, 100))).length;

test('a held lane does not hold the other: its records go on, the reader stops at laneBufferBytes of the held one, then every record once and in order', async () => {
  const pipeline = randomPipeline('lanes');
  const [a, b] = [new Keys(`${pipeline}-a`).stream('in'), new Keys(`${pipeline}-b`).stream('in')];
  const streamFor = (id: string) => (Number(id.slice(1)) % 2 === 0 ? a : b);
  let pulled = 0;
  async function* lines(): AsyncGenerator<string> {
    for (let i = 0; i < RECORDS; i++) {
      pulled++;
      yield JSON.stringify({ id: `r${i}`, title: `item ${i}` }) + '\n';
    }
  }
  let release!: () => void;
  const held = new Promise<void>((res) => (release = res));
  let heldBatches = 0;
  // Shard a is behind. (A producer without lanes asked once for a batch of every shard, with no stream: held too.)
  const beforeBatch = async (stream?: string) => {
    if (stream !== undefined && stream !== a) return;
    heldBatches++;
    await held; // shard a is behind: its lane waits here, as on its backpressure
  };
  const running = produce(redis, Readable.from(lines()), {
    stream: a,
    streamFor,
    source: 'test',
    maxRecordBytes: 65536,
    batchSize: BATCH,
    laneBufferBytes: LANE_BYTES,
    beforeBatch,
  });
  running.catch(() => {}); // awaited below; a failed assertion first must not leave it unhandled
  try {
    // The other lane keeps writing while a's first batch waits.
    await waitFor('records of the free lane written while the other is held', async () => (await redis.xlen(b)) >= 200, 20_000);
    assert.ok(heldBatches >= 1, 'lane a is held');
    assert.is(await redis.xlen(a), 0, 'nothing of the held lane written');
    // The reader stops once lane a holds its bound: it does not read the whole input.
    let last = -1;
    await waitFor(
      'the reader to stop at the held lane’s bound',
      () => {
        const still = pulled === last;
        last = pulled;
        return still;
      },
      20_000,
      200,
    );
    // Lane a holds at most LANE_BYTES of closed batches plus the one batch closed as it reached
    // them, and its filling batch; b's records are as many again (every other line); the stream
    // reader's object buffer (16) on top.
    const smallest = envelopeBytes('r0');
    const aMost = Math.ceil(LANE_BYTES / smallest) + 2 * BATCH;
    assert.ok(pulled <= 2 * aMost + 16, `read ${pulled} lines while lane a was held (at most ${2 * aMost + 16}, the bound of ${LANE_BYTES} bytes)`);
  } finally {
    release();
  }
  const summary = await running;
  assert.is(summary.produced, RECORDS);
  const ids = async (s: string) => (await redis.xrange(s, '-', '+')).map(([, f]) => Number(f[f.indexOf('k') + 1]!.slice(1)));
  for (const s of [a, b]) {
    const got = await ids(s);
    assert.is(got.length, RECORDS / 2, `${s}: every record once`);
    assert.equal(
      got,
      [...got].sort((x, y) => x - y),
      `${s}: in input order`,
    );
    assert.is(new Set(got).size, got.length);
  }
});

test.run();
