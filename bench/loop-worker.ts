/**
 * Bench child: the transport baseline, a minimal hand-written ioredis loop per stage.
 * XREADGROUP COUNT n BLOCK on one connection → msgpack decode → the same trivial transform (output
 * and hop added to the envelope) → encode → one pipeline of XADD to the next stream + XACK.
 * Several stage specs run their loops side by side in this one process (one connection each).
 * argv: REDIS_URL PIPELINE BATCH STAGE:SOURCE:TARGET [STAGE:SOURCE:TARGET ...]
 */
import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import { pack, unpack } from 'msgpackr';
import { leave, readyThenGo } from './gate.js';
import type { Envelope } from '../lib/stream/codec.js';
import { applyTrivial } from './trivial.js';

const [url, pipeline, batchArg, ...specs] = process.argv.slice(2);
if (!url || !pipeline || !batchArg || specs.length === 0) throw new Error('usage: loop-worker.ts URL PIPELINE BATCH STAGE:SOURCE:TARGET...');
const batch = Number(batchArg);
const consumer = `${hostname()}-${process.pid}-0`;
let stopping = false;
process.on('SIGTERM', () => (stopping = true));

const loops = specs.map((spec) => {
  const [stage, sourceName, targetName] = spec.split(':') as [string, string, string];
  return {
    stage,
    source: `{${pipeline}}:${sourceName}`,
    target: `{${pipeline}}:${targetName}`,
    redis: new Redis(url, { connectionName: `base-${stage}:${consumer}:read` }),
  };
});

for (const { redis, source, stage } of loops) {
  try {
    await redis.xgroup('CREATE', source, stage, '0', 'MKSTREAM');
  } catch (err) {
    if (!String(err).includes('BUSYGROUP')) throw err;
  }
}
await readyThenGo({ stage: specs.join(',') });

async function run({ stage, source, target, redis }: (typeof loops)[number]): Promise<void> {
  while (!stopping) {
    const reply = (await redis.callBuffer('XREADGROUP', 'GROUP', stage, consumer, 'COUNT', batch, 'BLOCK', 1000, 'STREAMS', source, '>')) as
      [Buffer, [Buffer, Buffer[]][]][] | null;
    if (!reply) continue;
    const entries = reply[0]![1];
    const readAt = Date.now();
    const p = redis.pipeline();
    const ids: Buffer[] = [];
    for (const [id, fields] of entries) {
      ids.push(id);
      let key: Buffer | undefined;
      let body: Buffer | undefined;
      for (let i = 0; i < fields.length; i += 2) {
        const f = fields[i]!.toString();
        if (f === 'k') key = fields[i + 1];
        else if (f === 'e') body = fields[i + 1];
      }
      const env = unpack(body!) as Envelope;
      applyTrivial(env, stage, consumer, readAt, entries.length);
      p.xadd(target, '*', 'k', key!, 'e', pack(env));
    }
    p.xack(source, stage, ...ids);
    await p.exec();
  }
  await redis.quit();
}

await Promise.all(loops.map(run));
leave();
