import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { pipelineStatus, type PipelineStatus, type StreamStatus } from '../../lib/ops/inspect.js';
import { fusedRoutes } from '../../lib/config/fusion-plan.js';
import { createLogger } from '../../lib/observe/logger.js';
import { produce, rejectLine } from '../../lib/producer/producer.js';
import type { Shards } from '../../lib/redis/shard.js';
import { checkReadable, DEFAULT_START_INPUT, fileOption, type GlobalOptions } from './common.js';
import { waitIdle, withPipeline } from './job.js';
import { serveFirst } from './serve.js';
import { fusedAfter, storedText } from './status.js';
import { storeSink } from '../../lib/ops/inspect.js';
import { PARENT_POLL_MS } from '../../lib/core/parent-watch.js';
import { ExamplePicker, exampleLine, type StoredDoc } from './start-examples.js';
import { counted } from '../../lib/core/counted.js';

export interface StartOptions extends GlobalOptions {
  /** JSONL to produce, relative to the current directory. @defaultValue the package's data/sample.jsonl */
  input?: string;
  timeout: string;
  poll: string;
  /** After the sample run, keep the pipeline up and serve the HTTP API (`pipeline serve`) until Ctrl-C. */
  serve?: boolean;
  port?: string;
  host?: string;
  /** Stop as on SIGTERM once a process `start` was started under (npm, sh) is gone; polled this often, 0: never. @defaultValue PARENT_POLL_MS (1000) */
  parentPollMs?: string;
  /** Keep the job's temp folder (worker logs) at the end even when it holds nothing but info lines (removed then otherwise). */
  keepLogs?: boolean;
}

/**
 * Count the stored products of this run (produced at or after `since`) by route; keep a few
 * examples (two with a model number, one with a barcode) to show. Products of earlier runs in the
 * same pipeline are left out: the summary is this run's.
 */
async function routeCounts(redis: Redis, shards: Shards, since: number): Promise<{ counts: Record<string, number>; examples: string[] }> {
  const counts: Record<string, number> = {};
  const picker = new ExamplePicker();
  for (const keys of shards.all) {
    let cursor = '0';
    do {
      const [next, members] = await redis.sscan(keys.products, cursor, 'COUNT', 500);
      cursor = next;
      const docs = await Promise.all(members.map((k) => redis.hget(keys.product(k), 'doc')));
      for (const d of docs) {
        if (!d) continue;
        const doc = JSON.parse(d) as StoredDoc & { producedAt?: number };
        if ((doc.producedAt ?? 0) < since) continue;
        const route = doc.route.join('→');
        counts[route] = (counts[route] ?? 0) + 1;
        picker.offer(doc);
      }
    } while (cursor !== '0');
  }
  return { counts, examples: picker.picked.map(exampleLine) };
}

/** Stages that run fused after others (lib/config/fusion-plan.ts), each with the stages it runs after: `validate after extract.a/extract.b`. */
function fusedNote(config: ResolvedConfig): string | undefined {
  const fused = fusedRoutes(config);
  return fused.length ? fusedAfter(fused) : undefined;
}

/** Whether the pipeline had anything in this Redis before the run: records produced, stored products or dead letters. */
export const hadData = (s: PipelineStatus): boolean => s.stored > 0 || s.dlq > 0 || s.streams.some((st) => st.added > 0);

/**
 * The summary after the sample run: this run's numbers, the status after it less the status
 * before it (`before`), so a run into a pipeline that had data (REDIS_URL) does not mix them with
 * all-time totals. Stages fused after another read almost nothing from their own stream: marked
 * `*` and named in a footnote (as `pipeline top` does). Under another sink than redis the stored
 * products are not in Redis: the per-route counts and the stored count say where they are instead
 * of 0 and nothing.
 */
export function formatSummary(
  config: ResolvedConfig,
  s: PipelineStatus,
  before: PipelineStatus,
  produced: number,
  rejected: number,
  stored: { counts: Record<string, number>; examples: string[] },
  seconds: number,
): string {
  const sink = storeSink(config);
  const routes = stored.counts;
  const was = new Map(before.streams.map((st) => [st.key, st]));
  const read = (st: StreamStatus) => Math.max(0, (st.group?.entriesRead ?? 0) - (was.get(st.key)?.group?.entriesRead ?? 0));
  const added = (st: StreamStatus) => Math.max(0, st.added - (was.get(st.key)?.added ?? 0));
  const fused = fusedNote(config);
  const fusedStages = new Set(fusedRoutes(config).map((r) => r.to));
  const out: string[] = ['', `pipeline ${config.pipeline}: done in ${seconds.toFixed(1)} s (the numbers are this run's)`];
  out.push(`  produced   ${produced}`, `  rejected   ${rejected}`);
  out.push('  per stage (entries its group read):');
  for (const st of s.streams) if (st.stage) out.push(`    ${st.stage.padEnd(22)} ${read(st)}${fusedStages.has(st.stage) ? ' *' : ''}`);
  if (fused) out.push(`    * fused: run in the batch of the stage before, so their group reads only the rest (fan-outs, retries, replays): ${fused}`);
  for (const st of s.streams) if (!st.stage) out.push(`  ${st.stream.padEnd(10)} ${added(st)}`);
  if (sink === 'redis') {
    out.push('  per route (stored products):');
    const width = Math.max(40, ...Object.keys(routes).map((r) => r.length));
    for (const [r, n] of Object.entries(routes).sort((a, b) => b[1] - a[1])) out.push(`    ${r.padEnd(width)} ${n}`);
    // A pipeline whose stages find no model number or barcode (a config of your own stages) has none to show.
    if (stored.examples.length) out.push('  examples:', ...stored.examples);
  } else out.push(`  per route (stored products): in the ${sink} sink (pipeline export --sink ${sink})`);
  out.push(`  dlq        ${Math.max(0, s.dlq - before.dlq)}`);
  if (sink === 'redis') {
    const ours = Object.values(routes).reduce((a, b) => a + b, 0);
    out.push(`  stored     ${ours}${s.stored > ours ? ` (the pipeline holds ${s.stored}: ${s.stored - ours} from earlier runs)` : ''}`);
  } else out.push(`  ${storedText(s.stored, sink).replace(/^stored:? /, 'stored     ')}`);
  out.push(`  throughput ${(produced / seconds).toFixed(0)} records/s (wall time, including model loading)`);
  return out.join('\n') + '\n';
}

/**
 * `npm start`: start a local redis-server when REDIS_URL is unset, run every stage, produce the
 * sample, wait until the pipeline is idle, print a summary, shut everything down.
 */
export async function startCommand(opts: StartOptions): Promise<void> {
  const logger = createLogger({ component: 'start' });
  const parentPollMs = Number(opts.parentPollMs ?? PARENT_POLL_MS);
  const input = fileOption(opts.input, DEFAULT_START_INPUT);
  // As `produce`: an input that cannot be read is named now, before a redis-server or a worker starts
  // (it had been found after both, as a bare `ENOENT: no such file or directory, open '<path>'`).
  checkReadable(input, opts.input === undefined ? input : `--input ${opts.input}`);
  await withPipeline({ configPath: opts.config, logger, parentPollMs, keepLogs: opts.keepLogs ?? false }, async (ctx) => {
    const { config, shards, redis } = ctx;
    const t0 = Date.now();
    // Bound before the job runs, as `up --serve`: a port in use fails now, not after the whole run.
    const api = opts.serve ? await serveFirst(config, opts, createLogger({ component: 'api' })) : undefined;
    try {
      await job();
    } finally {
      await api?.close();
    }
    async function job() {
      const before = await pipelineStatus(redis, config);
      if (hadData(before))
        process.stderr.write(
          `warning: pipeline "${config.pipeline}" in this Redis (REDIS_URL) already holds data (${counted(before.stored, 'stored product')}, ${counted(before.dlq, 'dead letter')}): this run adds the sample to it, and workers already running on it join in; the summary counts this run alone (PIPELINE=<another name> runs it apart)\n`,
        );
      const rejectsFile = join(ctx.logDir, 'rejects.jsonl');
      const summary = await produce(redis, createReadStream(input), {
        stream: shards.all[0]!.stream(config.input),
        ...(shards.count > 1 ? { streamFor: (k: string) => shards.keysFor(k).stream(config.input) } : {}),
        source: input,
        maxRecordBytes: config.limits.maxRecordBytes,
        rejectsFile,
        onReject: (r) => process.stderr.write(`${rejectLine(r)}\n`),
      });
      logger.info('start.produced', { ...summary, workerLog: ctx.logFile });
      const status = await waitIdle(ctx, Number(opts.timeout), Number(opts.poll));
      const seconds = (Date.now() - t0) / 1000;
      const stored = storeSink(config) === 'redis' ? await routeCounts(redis, shards, t0) : { counts: {}, examples: [] };
      process.stdout.write(formatSummary(config, status, before, summary.produced, summary.rejected, stored, seconds));
      // As `produce`: rejected lines are named where they are kept, and the run exits 1 (docs/cli.md).
      if (summary.rejected > 0) process.stdout.write(`  rejected lines kept in ${rejectsFile}\n`);
      if (summary.rejected > 0) process.exitCode = 1;
      // The job's folder: withPipeline removes it at the end, or names it there when it keeps it (rejected lines, warnings, --keep-logs).
      // The API closes first (withPipeline's signal handler ends the wait), then workers drain and Redis stops.
      // The redis-server started here is on a free port, not the CLI's default 6379: the banner says which.
      const cli = ctx.ownRedisUrl ? `REDIS_URL=${ctx.ownRedisUrl} npx pipeline${opts.config ? ` --config ${opts.config}` : ''} top` : undefined;
      if (api) await api.until(ctx.untilStopped(), cli);
    }
  });
}
