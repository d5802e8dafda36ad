import { Readable } from 'node:stream';
import type { Logger } from '../../lib/observe/logger.js';
import { produce } from '../../lib/producer/producer.js';
import { collectOutcomes, type Outcome } from '../../training/eval/collect.js';
import { releaseChunk } from '../../training/eval/release.js';
import { dropPipelineKeys } from '../../lib/ops/drop-keys.js';
import { waitIdle, type JobContext } from './job.js';

/** How often the pipeline is polled for being idle after each chunk (ms). */
const IDLE_POLL_MS = 250;

export interface EvalRunOptions {
  /** Records sent at a time; the next chunk goes in once this one is scored and its keys deleted. @defaultValue DEFAULT_EVAL_CHUNK (common.ts) */
  chunk: number;
  /** The whole run must be idle by then (ms from the first record sent), else it fails naming the worker log. */
  timeoutMs: number;
  /** The input's name in the producer's messages. */
  source: string;
  logger: Logger;
}

export interface EvalRun {
  /** Time the pipeline took: from each chunk's first record sent to that chunk idle, summed (not the collecting and deleting between chunks). */
  seconds: number;
  outcomes: Map<string, Outcome>;
  chunks: number;
}

/**
 * Send the records through the job's pipeline `chunk` records at a time: each chunk is produced,
 * waited for (every stage idle), its outcomes read, and then what it left in Redis deleted
 * (releaseChunk: products, statuses, review and DLQ entries, set members, the producer's state;
 * and the match stage's vectors), so Redis holds at most about one chunk's products and vectors
 * whatever the file's size (docs/models.md). A record is matched against the earlier records of
 * its chunk only (`duplicateOf` in `--dump`; no score reads it).
 */
export async function runInChunks(ctx: JobContext, records: readonly { id: string; title: string }[], opts: EvalRunOptions): Promise<EvalRun> {
  const { config, shards, redis } = ctx;
  const review = config.streams.terminal[0] ?? 'review';
  const outcomes = new Map<string, Outcome>();
  const deadline = Date.now() + opts.timeoutMs;
  let ms = 0;
  let chunks = 0;
  for (let i = 0; i < records.length; i += opts.chunk) {
    const chunk = records.slice(i, i + opts.chunk);
    const runId = `eval-chunk-${chunks}`;
    // Titles only: category, brand and identifiers are what the pipeline must find. One line at a time (no string of them all).
    const lines = function* () {
      for (const r of chunk) yield Buffer.from(`${JSON.stringify(r)}\n`);
    };
    const t0 = Date.now();
    await produce(redis, Readable.from(lines()), {
      stream: shards.all[0]!.stream(config.input),
      source: opts.source,
      maxRecordBytes: config.limits.maxRecordBytes,
      runId,
      ...(shards.count > 1 ? { streamFor: (k: string) => shards.keysFor(k).stream(config.input) } : {}),
    });
    await waitIdle(ctx, Math.max(1, deadline - Date.now()), IDLE_POLL_MS);
    ms += Date.now() - t0;
    const ids = chunk.map((r) => r.id);
    const readTo = new Map<string, string>();
    for (const [id, o] of await collectOutcomes(redis, shards, ids, review, readTo)) if (!outcomes.has(id)) outcomes.set(id, o);
    const producerKeys = shards.all.map((k) => `${k.stream(config.input)}:producer:${runId}`);
    const released = await releaseChunk(redis, shards, ids, readTo, producerKeys);
    // The match stage's vectors of the chunk (its index, about 0.55 KB a record): kept, they grew with
    // the file. The workers' copies see their log deleted and start over (stages/domain/vector-store.ts).
    const vectorKeys = await dropPipelineKeys(redis, shards.all, 'vectors:*');
    chunks++;
    opts.logger.info('eval.chunk_scored', {
      chunk: chunks,
      records: chunk.length,
      sent: i + chunk.length,
      keysDeleted: released.keys,
      vectorKeysDeleted: vectorKeys,
      entriesTrimmed: released.entries,
    });
  }
  return { seconds: ms / 1000, outcomes, chunks };
}
