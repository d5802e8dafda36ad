import { Keys } from '../lib/redis/keys.js';
import { spawnChild, type BenchChild } from './children.js';
import type { Rig } from './rig.js';
import { TRANSPORT_OUT, TRANSPORT_STAGES, transportConfig, writeTempConfig } from './transport-config.js';

export interface TransportSetup {
  url: string;
  pipeline: string;
  batchSize: number;
  /** Processes per stage (with `colocate`: processes running all three). @defaultValue 1 */
  workers?: number;
  /** Write CPU profiles of the stage processes here (<dir>/<side>/<stage>/). */
  cpuProfDir?: string;
  /** The three stages in one process (config `process`; the baseline: three loops in one process). @defaultValue false */
  colocate?: boolean;
}

/** `s.workers` children of one stage (consumers of its group, told apart by pid). */
const copies = (s: TransportSetup, spawn: (i: number) => BenchChild): BenchChild[] => Array.from({ length: s.workers ?? 1 }, (_, i) => spawn(i));

/** The process kinds: one per stage, or one running all three (labelled by its stages joined with +). */
const groups = (s: TransportSetup): string[][] => (s.colocate ? [[...TRANSPORT_STAGES]] : TRANSPORT_STAGES.map((x) => [x]));

export const transportInput = (pipeline: string) => new Keys(pipeline).stream('in');

/** The project: real Workers (trivial-worker.ts), one process per stage or one for all. */
export async function projectTransport(s: TransportSetup): Promise<Rig> {
  const keys = new Keys(s.pipeline);
  const file = writeTempConfig(transportConfig(s.pipeline, s.batchSize), s.pipeline);
  const children: BenchChild[] = groups(s).flatMap((g) =>
    copies(s, (i) =>
      spawnChild(`${g.join('+')}#${i}`, 'trivial-worker.ts', [file, g.join(',')], {
        env: { REDIS_URL: s.url },
        cpuProfDir: s.cpuProfDir && `${s.cpuProfDir}/project`,
      }),
    ),
  );
  return { side: 'project', children, input: keys.stream('in'), outputs: [keys.stream(TRANSPORT_OUT), keys.dlq] };
}

/** The baseline: hand-written ioredis loops (loop-worker.ts), one process per stage or one for all. */
export async function baselineTransport(s: TransportSetup): Promise<Rig> {
  const keys = new Keys(s.pipeline);
  const streams = ['in', ...TRANSPORT_STAGES.slice(1), TRANSPORT_OUT];
  const spec = (stage: string) => {
    const i = TRANSPORT_STAGES.indexOf(stage as (typeof TRANSPORT_STAGES)[number]);
    return `${stage}:${streams[i]}:${streams[i + 1]}`;
  };
  const children = groups(s).flatMap((g) =>
    copies(s, (n) =>
      spawnChild(`${g.join('+')}#${n}`, 'loop-worker.ts', [s.url, s.pipeline, String(s.batchSize), ...g.map(spec)], {
        cpuProfDir: s.cpuProfDir && `${s.cpuProfDir}/baseline`,
      }),
    ),
  );
  return { side: 'baseline', children, input: keys.stream('in'), outputs: [keys.stream(TRANSPORT_OUT)] };
}
