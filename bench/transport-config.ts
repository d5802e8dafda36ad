import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PipelineConfig } from '../lib/config/types.js';

/** The transport pipeline's stages, in order; each reads the stream of its name (s1 reads `in`). */
export const TRANSPORT_STAGES = ['s1', 's2', 's3'] as const;
/** Where the last stage forwards to: a terminal stream nobody reads. */
export const TRANSPORT_OUT = 'out';

/** in → s1 → s2 → s3 → out, all of kind `trivial`, default stage options except the batch size. */
export function transportConfig(pipeline: string, batchSize: number): PipelineConfig {
  const [a, b, c] = TRANSPORT_STAGES;
  return {
    pipeline,
    input: 'in',
    streams: { terminal: [TRANSPORT_OUT] },
    defaults: { batchSize },
    stages: [
      { name: a, kind: 'trivial', input: 'in' },
      { name: b, kind: 'trivial' },
      { name: c, kind: 'trivial' },
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
