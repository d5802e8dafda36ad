import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { newEnvelope, type ProductRecord } from '../lib/stream/codec.js';
import { spawnChild } from './children.js';
import type { Rig } from './rig.js';
import { TRANSPORT_OUT, TRANSPORT_STAGES } from './transport-config.js';
import type { TransportSetup } from './transport.js';

const connectionOf = (url: string) => {
  const { hostname: host, port } = new URL(url);
  return { host, port: Number(port), maxRetriesPerRequest: null };
};

/** The BullMQ baseline: queues <p>-s1 → <p>-s2 → <p>-s3 → <p>-out, one worker process per stage. */
export async function bullmqTransport(s: TransportSetup, redis: Redis): Promise<Rig> {
  const names = [...TRANSPORT_STAGES, TRANSPORT_OUT];
  const children = TRANSPORT_STAGES.map((stage, i) =>
    spawnChild(`${stage}#0`, 'bullmq-worker.ts', [s.url, s.pipeline, stage, names[i + 1]!, String(s.batchSize)]),
  );
  // Jobs waiting in the last queue (BullMQ 5 keeps them in the list bull:<queue>:wait).
  const outList = `bull:${s.pipeline}-${TRANSPORT_OUT}:wait`;
  return { side: 'bullmq', children, input: `${s.pipeline}-${TRANSPORT_STAGES[0]}`, outputs: [outList], arrived: () => redis.llen(outList) };
}

/** Pre-fill the first queue with `n` envelope jobs (addBulk in chunks). */
export function bullmqFill(url: string, pipeline: string, record: (i: number) => ProductRecord) {
  return async (n: number) => {
    const q = new Queue(`${pipeline}-${TRANSPORT_STAGES[0]}`, { connection: connectionOf(url) });
    try {
      for (let start = 0; start < n; start += 1_000) {
        const jobs = [];
        for (let i = start; i < Math.min(n, start + 1_000); i++) jobs.push({ name: 'r', data: newEnvelope(record(i)), opts: { removeOnComplete: true } });
        await q.addBulk(jobs);
      }
    } finally {
      await q.close();
    }
  };
}
