import { coldStartRows, type ColdStartResults } from './coldstart-rows.js';
import { colocateLines, type ColocateResults } from './colocate-report.js';
import type { LatencyResult } from './latency.js';
import type { OutputComparison } from './model-outputs.js';
import { cpuPerRecord, type ThroughputResult, type StageResources } from './rig.js';
import { median } from './stats.js';

/** Everything one bench run measured, as written by --json. */
export interface BenchResults {
  machine: { cpus: number; node: string; redis: string; loadBefore: number[]; loadAfter?: number[] };
  options: Record<string, unknown>;
  transport: { project: ThroughputResult[]; baseline: ThroughputResult[]; bullmq: ThroughputResult[] };
  latency: { project: LatencyResult[]; baseline: LatencyResult[] };
  models: {
    status: 'measured' | 'not built' | 'skipped' | 'failed';
    note?: string;
    project: ThroughputResult[];
    baseline: ThroughputResult[];
    latency: LatencyResult[];
    /** The first run's outputs, record by record, pipeline against bare loop (bench/model-outputs.ts). */
    outputs?: OutputComparison;
  };
  /** Cold start per stage kind (bench/coldstart.ts). */
  coldStart?: ColdStartResults;
  /** `--parts colocate` (bench/colocate.ts). */
  colocate?: ColocateResults;
  ratios: {
    transport?: number;
    model?: number;
    /** Model pipeline CPU per record (stages + Redis) over the bare loop's. */
    modelCpu?: number;
    /** Median transport latency p99 (ms) at the paced load, project side. */
    latencyP99Ms?: number;
    /** Median model pipeline latency p99 (ms) at the paced load. */
    modelLatencyP99Ms?: number;
    transportPairs?: number[];
    modelPairs?: number[];
  };
}

const int = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '-' : Math.round(n).toLocaleString('en-US'));
const dec = (n: number | undefined, d = 1) => (n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(d));
const ratio = (a?: number, b?: number) => (a !== undefined && b ? a / b : undefined);

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) =>
    r
      .map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)))
      .join('  ')
      .trimEnd(),
  );
}

const med = <T>(xs: readonly T[], f: (x: T) => number | undefined) => median(xs.map(f).filter((v): v is number => v !== undefined && Number.isFinite(v)));

/** Medians per stage of peak RSS and connections per process over runs. */
function resources(runs: readonly { stages: StageResources[] }[]): string {
  if (runs.length === 0) return '-';
  const names = runs[0]!.stages.map((s) => s.stage);
  return names
    .map((n) => {
      const of = runs.map((r) => r.stages.find((s) => s.stage === n)).filter((s): s is StageResources => !!s);
      return `${n} ${dec(
        med(of, (s) => s.peakRssMb),
        0,
      )} MB/${dec(
        med(of, (s) => s.connectionsPerProcess),
        0,
      )}c`;
    })
    .join(', ');
}

/**
 * Project/baseline records/s of each alternating pair of runs (run i of each side). Neighbours in
 * time share the machine's state, so on a VM whose speed drifts these say more than the ratio of
 * medians, which may compare runs from a fast and a slow minute.
 */
export function pairRatios(project: readonly ThroughputResult[], baseline: readonly ThroughputResult[]): number[] {
  const n = Math.min(project.length, baseline.length);
  return Array.from({ length: n }, (_, i) => project[i]!.recordsPerSec / baseline[i]!.recordsPerSec);
}

function pairsLine(label: string, pairs: readonly number[]): string {
  const wins = pairs.filter((x) => x > 1).length;
  return `${label} per pair of runs: ${pairs.map((x) => `${x.toFixed(2)}x`).join(' ')} (median ${dec(median([...pairs]), 2)}x; project faster in ${wins} of ${pairs.length})`;
}

/** One run as a log line: records/s, then per stage CPU seconds and mean batch size, and Redis CPU. */
export function runLine(r: ThroughputResult): string {
  const batches = (m: number[] | undefined) =>
    m === undefined || m.every(Number.isNaN) ? '' : ` (batch ${m.map((b) => (Number.isNaN(b) ? '-' : b.toFixed(1))).join('/')})`;
  const stages = r.stages.map((x) => `${x.stage} ${x.cpuSeconds.toFixed(1)}${batches(x.meanBatch)}`);
  return `${Math.round(r.recordsPerSec)} records/s (${r.records} in ${r.seconds.toFixed(2)} s; cpu s: ${stages.join(', ')}, redis ${r.redisCpuSeconds.toFixed(1)})`;
}

/**
 * The bench's last five lines, in this order (issue 17 checks them): `transport: N.NNx`,
 * `model: N.NNx`, `model cpu: N.NNx` (project CPU per record over the bare loop's),
 * `latency p99: N ms` (transport at the paced load), `model latency p99: N ms`. A measure that was
 * not taken reads `n/a (<why>)`.
 */
export function contractLines(r: BenchResults): string[] {
  const x = (v: number | undefined, why: string) => (v !== undefined && Number.isFinite(v) && v > 0 ? `${v.toFixed(2)}x` : `n/a (${why})`);
  const ms = (v: number | undefined, why: string) => (v !== undefined && Number.isFinite(v) ? `${Math.round(v)} ms` : `n/a (${why})`);
  const models = r.models.status;
  return [
    `transport: ${x(r.ratios.transport, 'skipped')}`,
    `model: ${x(r.ratios.model, models)}`,
    `model cpu: ${x(r.ratios.modelCpu, models)}`,
    `latency p99: ${ms(r.ratios.latencyP99Ms, 'skipped')}`,
    `model latency p99: ${ms(r.ratios.modelLatencyP99Ms, models === 'measured' ? 'skipped' : models)}`,
  ];
}

/** The summary: a table of medians, then the five contract lines, last. */
export function formatReport(r: BenchResults): string {
  const t = r.transport;
  const tp = med(t.project, (x) => x.recordsPerSec);
  const tb = med(t.baseline, (x) => x.recordsPerSec);
  const tq = med(t.bullmq, (x) => x.recordsPerSec);
  const mp = med(r.models.project, (x) => x.recordsPerSec);
  const mb = med(r.models.baseline, (x) => x.recordsPerSec);
  r.ratios = {
    transport: ratio(tp, tb),
    model: ratio(mp, mb),
    modelCpu: ratio(med(r.models.project, cpuPerRecord), med(r.models.baseline, cpuPerRecord)),
    latencyP99Ms: med(r.latency.project, (x) => x.p99Ms),
    modelLatencyP99Ms: med(r.models.latency, (x) => x.p99Ms),
    transportPairs: pairRatios(t.project, t.baseline),
    modelPairs: pairRatios(r.models.project, r.models.baseline),
  };
  const lp = r.latency.project;
  const lb = r.latency.baseline;
  const rows: string[][] = [
    ['measure (median of runs)', 'project', 'baseline', 'project/baseline'],
    [`transport records/s (${int(t.project[0]?.records)} x 3 stages)`, int(tp), int(tb), r.ratios.transport ? `${r.ratios.transport.toFixed(2)}x` : '-'],
  ];
  rows.push(['transport CPU us/record (stages + redis)', int(med(t.project, cpuPerRecord)), int(med(t.baseline, cpuPerRecord)), '']);
  if (t.bullmq.length) {
    rows.push(['transport records/s, BullMQ baseline', int(tp), int(tq), ratio(tp, tq) ? `${ratio(tp, tq)!.toFixed(2)}x` : '-']);
    rows.push(['transport CPU us/record, BullMQ', int(med(t.project, cpuPerRecord)), int(med(t.bullmq, cpuPerRecord)), '']);
  }
  rows.push(
    [`latency p50 ms (paced ${int(lp[0]?.rate)}/s)`, dec(med(lp, (x) => x.p50Ms)), dec(med(lb, (x) => x.p50Ms)), ''],
    ['latency p99 ms', dec(med(lp, (x) => x.p99Ms)), dec(med(lb, (x) => x.p99Ms)), ''],
    ['latency max ms', dec(med(lp, (x) => x.maxMs)), dec(med(lb, (x) => x.maxMs)), ''],
  );
  if (r.models.status === 'measured') {
    const ml = r.models.latency;
    rows.push([`model records/s (${int(r.models.project[0]?.records)} dev titles)`, int(mp), int(mb), r.ratios.model ? `${r.ratios.model.toFixed(2)}x` : '-']);
    rows.push(['model CPU us/record (stages + redis)', int(med(r.models.project, cpuPerRecord)), int(med(r.models.baseline, cpuPerRecord)), '']);
    if (ml.length) {
      rows.push([
        `model latency p50/p99/max ms (paced ${int(ml[0]?.rate)}/s)`,
        `${dec(
          med(ml, (x) => x.p50Ms),
          0,
        )}/${dec(
          med(ml, (x) => x.p99Ms),
          0,
        )}/${dec(
          med(ml, (x) => x.maxMs),
          0,
        )}`,
        '',
        '',
      ]);
    }
  }
  if (r.coldStart) rows.push(...coldStartRows(r.coldStart));
  const lines = [
    `bench: ${r.machine.cpus} cores, Node ${r.machine.node}, redis ${r.machine.redis}, batch ${String(r.options.batchSize)}, ${String(r.options.workers ?? 1)} process(es) per transport stage, ${String(r.options.runs)} run(s) per side, load average before ${r.machine.loadBefore.map((x) => x.toFixed(2)).join(' ')}${r.machine.loadAfter ? `, after ${r.machine.loadAfter.map((x) => x.toFixed(2)).join(' ')}` : ''}`,
    '',
    ...table(rows),
    '',
    ...(r.ratios.transportPairs!.length ? [pairsLine('transport project/baseline', r.ratios.transportPairs!)] : []),
    ...(r.ratios.modelPairs!.length ? [pairsLine('model project/bare loop', r.ratios.modelPairs!)] : []),
    `peak RSS / connections per process, transport project:  ${resources(t.project)}`,
    `peak RSS / connections per process, transport baseline: ${resources(t.baseline)}`,
  ];
  if (r.models.status === 'measured') {
    lines.push(`peak RSS / connections per process, model project:      ${resources(r.models.project)}`);
    lines.push(`peak RSS, bare model loop (one process):                ${resources(r.models.baseline)}`);
  } else {
    lines.push(`models: ${r.models.status}${r.models.note ? ` (${r.models.note})` : ''}`);
  }
  if (r.colocate) lines.push('', ...colocateLines(r.colocate));
  lines.push('', ...contractLines(r));
  return lines.join('\n');
}
