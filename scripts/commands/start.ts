import { createReadStream, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { pipelineStatus, type PipelineStatus } from '../../lib/ops/inspect.js';
import { createLogger } from '../../lib/observe/logger.js';
import { produce } from '../../lib/producer/producer.js';
import type { Shards } from '../../lib/redis/shard.js';
import { DEFAULT_START_INPUT, fileOption, type GlobalOptions } from './common.js';
import { waitIdle, withPipeline } from './job.js';
import { serveFirst } from './serve.js';
import { storedText } from './status.js';
import { storeSink } from '../../lib/ops/inspect.js';
import { PARENT_POLL_MS } from '../../lib/core/parent-watch.js';
import { ExamplePicker, exampleLine, type StoredDoc } from './start-examples.js';

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
}

/** Count stored products by route; keep a few examples (two with a model number, one with a barcode) to show. */
async function routeCounts(redis: Redis, shards: Shards): Promise<{ counts: Record<string, number>; examples: string[] }> {
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
        const doc = JSON.parse(d) as StoredDoc;
        const route = doc.route.join('→');
        counts[route] = (counts[route] ?? 0) + 1;
        picker.offer(doc);
      }
    } while (cursor !== '0');
  }
  return { counts, examples: picker.picked.map(exampleLine) };
}

/**
 * The summary after the sample run. Under another sink than redis the stored products are not in
 * Redis: the per-route counts and the stored count say where they are instead of 0 and nothing.
 */
export function formatSummary(
  config: ResolvedConfig,
  s: PipelineStatus,
  produced: number,
  rejected: number,
  stored: { counts: Record<string, number>; examples: string[] },
  seconds: number,
): string {
  const sink = storeSink(config);
  const routes = stored.counts;
  const out: string[] = ['', `pipeline ${config.pipeline}: done in ${seconds.toFixed(1)} s`];
  out.push(`  produced   ${produced}`, `  rejected   ${rejected}`);
  out.push('  per stage (entries read by the group):');
  for (const st of s.streams) if (st.stage) out.push(`    ${st.stage.padEnd(22)} ${st.group?.entriesRead ?? 0}`);
  for (const st of s.streams) if (!st.stage) out.push(`  ${st.stream.padEnd(10)} ${st.length}`);
  if (sink === 'redis') {
    out.push('  per route (stored products):');
    for (const [r, n] of Object.entries(routes).sort((a, b) => b[1] - a[1])) out.push(`    ${r.padEnd(40)} ${n}`);
    out.push('  examples:', ...stored.examples);
  } else out.push(`  per route (stored products): in the ${sink} sink (pipeline export --sink ${sink})`);
  out.push(`  dlq        ${s.dlq}`, `  ${storedText(s.stored, sink).replace(/^stored:? /, 'stored     ')}`);
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
  await withPipeline({ configPath: opts.config, logger, parentPollMs }, async (ctx) => {
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
      const input = fileOption(opts.input, DEFAULT_START_INPUT);
      const rejectsFile = join(ctx.logDir, 'rejects.jsonl');
      const summary = await produce(redis, createReadStream(input), {
        stream: shards.all[0]!.stream(config.input),
        ...(shards.count > 1 ? { streamFor: (k: string) => shards.keysFor(k).stream(config.input) } : {}),
        source: input,
        maxRecordBytes: config.limits.maxRecordBytes,
        rejectsFile,
        onReject: (r) => process.stderr.write(`${r.source}:${r.line}: rejected (${r.reason}): ${r.error}\n`),
      });
      logger.info('start.produced', { ...summary, workerLog: ctx.logFile });
      const status = await waitIdle(ctx, Number(opts.timeout), Number(opts.poll));
      const seconds = (Date.now() - t0) / 1000;
      const stored = storeSink(config) === 'redis' ? await routeCounts(redis, shards) : { counts: {}, examples: [] };
      process.stdout.write(formatSummary(config, status, summary.produced, summary.rejected, stored, seconds));
      if (before.stored > 0) process.stdout.write(`  (${before.stored} products were already stored before this run)\n`);
      // As `produce`: rejected lines are named where they are kept, and the run exits 1 (docs/cli.md).
      if (summary.rejected > 0) process.stdout.write(`  rejected lines kept in ${rejectsFile}\n`);
      if (summary.rejected > 0) process.exitCode = 1;
      // The job's folder stays when something was written to it (withPipeline removes it otherwise): say so.
      if (summary.rejected > 0 || statSync(ctx.logFile).size > 0) process.stdout.write(`  worker logs: ${ctx.logFile} (kept; rm -r ${ctx.logDir} when done)\n`);
      // The API closes first (withPipeline's signal handler ends the wait), then workers drain and Redis stops.
      if (api) await api.until(ctx.untilStopped());
    }
  });
}
