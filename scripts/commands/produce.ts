import { createReadStream } from 'node:fs';
import { produce, type Reject } from '../../lib/producer/producer.js';
import { configShards } from '../../lib/redis/shard.js';
import { cliRedis, loadConfig, type GlobalOptions } from './common.js';

export interface ProduceCliOptions extends GlobalOptions {
  rejects: string;
  batch: string;
  waitReplicas: string;
  /** ms; undefined = the library default (0, or 30000 with --wait-replicas). */
  retryFor?: string;
  /** Stable run name for resuming (lib/producer/producer.ts `runId`). */
  runId?: string;
}

/** `pipeline produce [file]`: JSONL from a file or stdin into the input stream. Exit 1 if any line was rejected. */
export async function produceCommand(file: string | undefined, opts: ProduceCliOptions): Promise<void> {
  const config = loadConfig(opts);
  const redis = cliRedis(config.redis.url);
  const tty = process.stderr.isTTY;
  const t0 = Date.now();
  const progress = (n: number, bad: number) => {
    if (!tty) return;
    const rate = Math.round(n / Math.max(0.001, (Date.now() - t0) / 1000));
    process.stderr.write(`\rproduced ${n}  rejected ${bad}  ${rate}/s `);
  };
  const onReject = (r: Reject) => {
    if (tty) process.stderr.write('\n');
    process.stderr.write(`${r.source}:${r.line}: rejected (${r.reason}): ${r.error}\n`);
  };
  const shards = configShards(config);
  try {
    const summary = await produce(redis, file ? createReadStream(file) : process.stdin, {
      stream: shards.all[0]!.stream(config.input),
      // Sharded: each record to its shard's input stream, by a stable hash of its id.
      ...(shards.count > 1 ? { streamFor: (k: string) => shards.keysFor(k).stream(config.input) } : {}),
      ...(opts.retryFor !== undefined ? { retryForMs: Number(opts.retryFor) } : {}),
      ...(opts.runId !== undefined ? { runId: opts.runId } : {}),
      source: file ?? 'stdin',
      maxRecordBytes: config.limits.maxRecordBytes,
      batchSize: Number(opts.batch),
      rejectsFile: opts.rejects,
      waitReplicas: Number(opts.waitReplicas),
      onReject,
      onProgress: progress,
    });
    if (tty) process.stderr.write('\n');
    process.stdout.write(JSON.stringify({ event: 'produce.done', ...summary, rejectsFile: summary.rejected ? opts.rejects : undefined }) + '\n');
    if (summary.rejected > 0) process.exitCode = 1;
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
}
