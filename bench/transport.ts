import { Keys } from '../lib/redis/keys.js';
import { spawnChild, type BenchChild } from './children.js';
import type { Rig } from './rig.js';
import { TRANSPORT_OUT, TRANSPORT_STAGES, transportConfig, writeTempConfig } from './transport-config.js';

export interface TransportSetup {
  url: string;
  pipeline: string;
  batchSize: number;
  /** Processes per stage. @defaultValue 1 */
  workers?: number;
  /** Write CPU profiles of the stage processes here (<dir>/<side>/<stage>/). */
  cpuProfDir?: string;
}

/** `s.workers` children of one stage (consumers of its group, told apart by pid). */
const copies = (s: TransportSetup, spawn: (i: number) => BenchChild): BenchChild[] => Array.from({ length: s.workers ?? 1 }, (_, i) => spawn(i));

export const transportInput = (pipeline: string) => new Keys(pipeline).stream('in');

/** The project: one real Worker process per stage (trivial-worker.ts). */
export async function projectTransport(s: TransportSetup): Promise<Rig> {
  const keys = new Keys(s.pipeline);
  const file = writeTempConfig(transportConfig(s.pipeline, s.batchSize), s.pipeline);
  const children: BenchChild[] = TRANSPORT_STAGES.flatMap((stage) =>
    copies(s, (i) =>
      spawnChild(`${stage}#${i}`, 'trivial-worker.ts', [file, stage], { env: { REDIS_URL: s.url }, cpuProfDir: s.cpuProfDir && `${s.cpuProfDir}/project` }),
    ),
  );
  return { side: 'project', children, input: keys.stream('in'), outputs: [keys.stream(TRANSPORT_OUT), keys.dlq] };
}

/** The baseline: one hand-written ioredis loop process per stage (loop-worker.ts). */
export async function baselineTransport(s: TransportSetup): Promise<Rig> {
  const keys = new Keys(s.pipeline);
  const streams = ['in', ...TRANSPORT_STAGES.slice(1), TRANSPORT_OUT];
  const children = TRANSPORT_STAGES.flatMap((stage, i) =>
    copies(s, (n) =>
      spawnChild(`${stage}#${n}`, 'loop-worker.ts', [s.url, s.pipeline, stage, streams[i]!, streams[i + 1]!, String(s.batchSize)], {
        cpuProfDir: s.cpuProfDir && `${s.cpuProfDir}/baseline`,
      }),
    ),
  );
  return { side: 'baseline', children, input: keys.stream('in'), outputs: [keys.stream(TRANSPORT_OUT)] };
}
