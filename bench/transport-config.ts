import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PipelineConfig } from '../lib/config/types.js';

/** The transport pipeline's stages, in order; each reads the stream of its name (s1 reads `in`). */
export const TRANSPORT_STAGES = ['s1', 's2', 's3'] as const;
/** Where the last stage forwards to: the input of `REST_STAGE`, which nobody runs. */
export const TRANSPORT_OUT = 'out';
/**
 * The rest of the pipeline, never started: a sink stage reading `out`. The measured stages hand
 * off to a stage, as in the middle of a real pipeline; were `out` a terminal stream, every record
 * would also get a completion (`{p}:done` and its status hash, lib/stream/done.ts), which a real
 * pipeline writes once at its end (store) and the hand-written baselines never write.
 */
export const REST_STAGE = 'rest';
export const restStage = (input: string) => ({ name: REST_STAGE, kind: 'store', input });

/**
 * in → s1 → s2 → s3 → out (the input of `rest`, not run), all of kind `trivial`, default stage
 * options except the batch size, and `fuse: false`: this part measures hops, so every record goes
 * through all three streams even when the stages share a process (fused, they would be one hop
 * against three hand-written loops' three).
 */
export function transportConfig(pipeline: string, batchSize: number): PipelineConfig {
  const [a, b, c] = TRANSPORT_STAGES;
  return {
    pipeline,
    input: 'in',
    streams: { terminal: [] },
    defaults: { batchSize },
    stages: [
      { name: a, kind: 'trivial', input: 'in', fuse: false },
      { name: b, kind: 'trivial', fuse: false },
      { name: c, kind: 'trivial', fuse: false },
      restStage(TRANSPORT_OUT),
    ],
    routes: { [a]: [{ to: b }], [b]: [{ to: c }], [c]: [{ to: TRANSPORT_OUT }] },
  };
}

/** Write a config to a temp file for the child processes; returns its path. */
export function writeTempConfig(config: PipelineConfig, label: string): string {
  const file = join(tmpdir(), `bench-${label}-${process.pid}.json`);
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}
