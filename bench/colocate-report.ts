/** The co-location part's results and table (bench/colocate.ts runs it). */
import type { LatencyResult } from './latency.js';
import { cpuPerRecord, type ThroughputResult } from './rig.js';
import { median } from './stats.js';

export type Pair<T> = { perStage: T[]; oneProcess: T[] };
export interface ColocateResults {
  transportProject: Pair<ThroughputResult>;
  transportBaseline: Pair<ThroughputResult>;
  transportLatency: Pair<LatencyResult>;
  models: Pair<ThroughputResult>;
  /** Why the model rows are missing, if they are. */
  modelsNote?: string;
}

/** The part's table: per-stage processes against one process, medians, and the ratio one/per-stage. */
export function colocateLines(c: ColocateResults): string[] {
  const med = <T>(xs: T[], f: (x: T) => number) => median(xs.map(f));
  const fmt = (n: number | undefined, d = 0) =>
    n === undefined || !Number.isFinite(n) ? '-' : n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  const row = <T>(label: string, p: Pair<T>, f: (x: T) => number, d = 0): string[] => {
    const a = med(p.perStage, f);
    const b = med(p.oneProcess, f);
    return [label, fmt(a, d), fmt(b, d), a && b !== undefined ? `${(b / a).toFixed(2)}x` : '-'];
  };
  const rps = (r: ThroughputResult) => r.recordsPerSec;
  const rows = [
    ['co-location (median of runs)', 'per stage', 'one process', 'one/per-stage'],
    row('transport project records/s', c.transportProject, rps),
    row('transport project CPU us/record', c.transportProject, cpuPerRecord),
    row('transport loop records/s', c.transportBaseline, rps),
    row('transport loop CPU us/record', c.transportBaseline, cpuPerRecord),
    ...(c.transportLatency.perStage.length ? [row('transport project latency p99 ms', c.transportLatency, (l) => l.p99Ms)] : []),
    ...(c.models.perStage.length ? [row('model records/s', c.models, rps), row('model CPU us/record', c.models, cpuPerRecord)] : []),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return [
    ...rows.map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')),
    ...(c.modelsNote ? [`co-location: ${c.modelsNote}`] : []),
  ];
}
