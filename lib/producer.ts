import { createWriteStream, type WriteStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Redis } from 'ioredis';
import { encodeEnvelope, FIELD_ENVELOPE, FIELD_KEY, newEnvelope } from './codec.js';
import { BadRecordError, errorMessage } from './errors.js';
import { readLines } from './jsonl.js';
import { validateRecord } from './record.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

export interface Reject {
  source: string;
  line: number;
  reason: 'empty' | 'oversized' | 'invalid_utf8' | 'invalid_json' | 'invalid_record';
  error: string;
  /** The start of the raw line, for finding it. */
  raw?: string;
}

export interface ProduceOptions {
  /** Target stream key (`{products}:in`). */
  stream: string;
  /** Name for messages (file path or "stdin"). */
  source: string;
  /** Largest accepted line / record in bytes. */
  maxRecordBytes: number;
  /** XADDs sent per pipeline round trip. @defaultValue 500 */
  batchSize?: number;
  /** Write each rejected line here as JSONL (created on the first reject). @defaultValue none */
  rejectsFile?: string;
  /** Called for each rejected line (e.g. print to stderr). */
  onReject?: (r: Reject) => void;
  /** Called after each batch with running totals. */
  onProgress?: (produced: number, rejected: number) => void;
  /**
   * After each batch, WAIT for this many replicas to acknowledge (0 = don't wait). Closes the window
   * where a failover loses writes the producer saw acknowledged. @defaultValue 0
   */
  waitReplicas?: number;
  /** WAIT timeout. @defaultValue 1000 */
  waitTimeoutMs?: number;
}

export interface ProduceSummary {
  produced: number;
  rejected: number;
  lines: number;
  seconds: number;
}

/**
 * Read JSONL, validate each record, and XADD it as an envelope in pipelined batches (one round trip
 * per batch, bounded memory). Bad lines are reported with their line number and reason, kept in
 * the rejects file, counted, and skipped; the run goes on.
 */
export async function produce(redis: Redis, input: Readable, opts: ProduceOptions): Promise<ProduceSummary> {
  const t0 = Date.now();
  const batchSize = opts.batchSize ?? 500;
  let rejects: WriteStream | undefined;
  let produced = 0;
  let rejected = 0;
  let lines = 0;
  let batch = redis.pipeline();
  let inBatch = 0;

  const reject = (r: Reject) => {
    rejected++;
    opts.onReject?.(r);
    if (opts.rejectsFile) {
      rejects ??= createWriteStream(opts.rejectsFile, { flags: 'a' });
      rejects.write(JSON.stringify(r) + '\n');
    }
  };
  const flush = async () => {
    if (inBatch === 0) return;
    const results = (await batch.exec()) ?? [];
    for (const [err] of results) if (err) throw err;
    if (opts.waitReplicas) await redis.wait(opts.waitReplicas, opts.waitTimeoutMs ?? 1_000);
    produced += inBatch;
    batch = redis.pipeline();
    inBatch = 0;
    opts.onProgress?.(produced, rejected);
  };

  for await (const line of readLines(input, opts.maxRecordBytes)) {
    lines++;
    const at = { source: opts.source, line: line.lineNo };
    if (!line.bytes) {
      reject({ ...at, reason: 'oversized', error: `line is ${line.size} bytes, over the limit of ${opts.maxRecordBytes}` });
      continue;
    }
    if (line.bytes.toString('latin1').trim() === '') continue; // blank lines are not records
    let text: string;
    try {
      text = utf8.decode(line.bytes);
    } catch {
      reject({ ...at, reason: 'invalid_utf8', error: 'line is not valid UTF-8', raw: line.bytes.toString('latin1').slice(0, 200) });
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      reject({ ...at, reason: 'invalid_json', error: errorMessage(err), raw: text.slice(0, 200) });
      continue;
    }
    try {
      const record = validateRecord(value, opts.maxRecordBytes, line.bytes.length);
      batch.xadd(opts.stream, '*', FIELD_KEY, record.id, FIELD_ENVELOPE, encodeEnvelope(newEnvelope(record)));
      if (++inBatch >= batchSize) await flush();
    } catch (err) {
      if (!(err instanceof BadRecordError)) throw err;
      reject({ ...at, reason: 'invalid_record', error: err.message, raw: text.slice(0, 200) });
    }
  }
  await flush();
  if (rejects) await new Promise<void>((res) => rejects!.end(() => res()));
  return { produced, rejected, lines, seconds: (Date.now() - t0) / 1000 };
}
