/** Cold start results (bench/coldstart.ts measures them) and their table rows. */
import { median } from './stats.js';

export interface ColdStartResult {
  /** Stage kind (preprocess, classify, extract). */
  kind: string;
  stage: string;
  /** Spawn → first batch read, per run (ms). */
  readMs: number[];
  /** Spawn → first batch handed off, per run (ms). */
  doneMs: number[];
  /** CPU time (user + system) the process had used when its first batch was seen handed off, per run (ms; 10 ms ticks). */
  cpuMs: number[];
}

export interface ColdStartResults {
  /** `compiled` (dist/scripts/cli.js) or `tsx` (scripts/pipeline.mjs). */
  form: string;
  stages: ColdStartResult[];
}

/** Table rows: one per stage kind, medians. */
export function coldStartRows(c: ColdStartResults): string[][] {
  const m = (xs: number[]) => Math.round(median(xs) ?? NaN);
  return c.stages.map((s) => [`cold start ms, ${s.kind} (${c.form}): first batch read/done (cpu)`, `${m(s.readMs)}/${m(s.doneMs)} (${m(s.cpuMs)})`, '', '']);
}
