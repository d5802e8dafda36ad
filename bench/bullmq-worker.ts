/**
 * Bench child: the second transport baseline, one BullMQ stage. A BullMQ Worker on queue
 * `<prefix>-<stage>` (concurrency = the batch size) applies the same trivial transform to the job's
 * envelope and adds it to the next queue; jobs are removed on completion, as a tuned user would.
 * argv: REDIS_URL PREFIX STAGE NEXT CONCURRENCY
 */
import { Queue, Worker } from 'bullmq';
import { hostname } from 'node:os';
import { leave, readyThenGo } from './gate.js';
import type { Envelope } from '../lib/stream/codec.js';
import { applyTrivial } from './trivial.js';

const [url, prefix, stage, next, concurrencyArg] = process.argv.slice(2);
if (!url || !prefix || !stage || !next || !concurrencyArg) throw new Error('usage: bullmq-worker.ts URL PREFIX STAGE NEXT CONCURRENCY');
const { hostname: host, port } = new URL(url);
const connection = { host, port: Number(port), maxRetriesPerRequest: null };
const consumer = `${hostname()}-${process.pid}-0`;

const out = new Queue(`${prefix}-${next}`, { connection });
const worker = new Worker<Envelope>(
  `${prefix}-${stage}`,
  async (job) => {
    const readAt = Date.now();
    const env = job.data;
    applyTrivial(env, stage, consumer, readAt, 1);
    await out.add('r', env, { removeOnComplete: true, removeOnFail: 1000 });
  },
  { connection, concurrency: Number(concurrencyArg), autorun: false, removeOnComplete: { count: 0 }, removeOnFail: { count: 1000 } },
);
await worker.waitUntilReady();
await out.waitUntilReady();
await readyThenGo({ stage });
process.on('SIGTERM', () => {
  void (async () => {
    await worker.close();
    await out.close();
    leave();
  })();
});
await worker.run();
