import { createHash, type Hash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Redis } from 'ioredis';
import { backoffMs, sleep } from '../core/backoff.js';
import { encodeEnvelope, newEnvelope, newTraceId } from '../stream/codec.js';
import { BadRecordError, ConfigError, errorMessage, ReplicationError, RunInputMismatchError } from '../core/errors.js';
import { checkFingerprint, readRunState, type RunState } from './run-state.js';
import { retryBudget, retryOrThrow } from './retry.js';
import { appendBatchOnce, produceArgs, producedNow } from '../stream/handoff.js';
import { readLines } from './jsonl.js';
import { validateRecord } from './record.js';
import { Script } from '../redis/script.js';

const produceScript = new Script('produce-batch-2');

export { ReplicationError } from '../core/errors.js';

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
  /**
   * A sharded pipeline: the input stream of a record's shard, by record key
   * (`(k) => shards.keysFor(k).stream('in')`). Each shard gets its own exactly-once batches.
   * @defaultValue `stream` for every record
   */
  streamFor?: (recordKey: string) => string;
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
   * A batch counts as produced only once this many replicas of the master that took it have it
   * (WAIT, sent on the connection that wrote the batch: on a Redis Cluster, each shard's master).
   * Fewer within `waitTimeoutMs`, or a connection lost meanwhile: the batch is sent again (a no-op
   * when it is still there, re-applied when a failover lost it) and waited for again, up to
   * `retryForMs`. Closes the window where a failover loses writes the producer saw acknowledged.
   * 0 = don't wait. @defaultValue 0
   */
  waitReplicas?: number;
  /** WAIT timeout of one attempt. @defaultValue 1000 */
  waitTimeoutMs?: number;
  /**
   * A batch that failed with a transient Redis error (connection lost, CLUSTERDOWN or a closed
   * master during a cluster failover, Redis full: OOM), or that too few replicas acknowledged, is
   * sent again for up to this long (from the batch's first failure; safe: batches are
   * exactly-once), then produce fails.
   * @defaultValue 0 without `waitReplicas` (the first error fails produce), 30000 with it
   */
  retryForMs?: number;
  /** First delay before a batch is sent again; doubles (jittered) up to `retryMaxMs`. @defaultValue 50 */
  retryBaseMs?: number;
  /** @defaultValue 1000 */
  retryMaxMs?: number;
  /**
   * Name of this producer run, for its exactly-once state (`<input>:producer:<runId>`: how many
   * of the run's records are in, and a hash of them). Produce the same input again with the same
   * `runId` after a crash (any batch size), and the records that had gone through are skipped:
   * the run resumes where it stopped, nothing twice. An input whose first records are not those
   * the run added is refused (RunInputMismatchError) before anything of it is written. The state
   * lives 7 days after the run's last batch. @defaultValue a random id (no resume)
   */
  runId?: string;
  /**
   * Called before a batch is sent again after a transient error (within `retryForMs`): what
   * failed, and how long this batch has been retried so far. @defaultValue none
   */
  onRetry?: (err: unknown, retriedMs: number, budgetMs: number) => void;
  /**
   * Awaited before each batch is sent: backpressure (lib/producer/backpressure.ts
   * `waitUntilClear`) holds the producer here while the pipeline is behind or Redis is full.
   * @defaultValue none
   */
  beforeBatch?: () => Promise<void>;
  /** Called when a batch is acknowledged (and replicated, with `waitReplicas`): its record keys and stream. */
  onBatch?: (recordKeys: readonly string[], stream: string) => void;
}

/** One input stream's pending batch and exactly-once state (one per shard). */
interface Lane {
  stream: string;
  stateKey: string;
  /** The run's records for this stream read so far, the batch's included. */
  count: number;
  /** A hash of those records' lines in order: the fingerprint produce-batch-2.lua keeps with the count. */
  hash: Hash;
  batch: [string, Buffer][];
  /** What an earlier run with this run id had added (read before the lane's first record); null: nothing. */
  resume?: RunState | null;
}

export interface ProduceSummary {
  /** Records added to the input stream by this run. */
  produced: number;
  /** Records an earlier run with the same `runId` (or a concurrent one) had already added (skipped). */
  skipped: number;
  rejected: number;
  lines: number;
  seconds: number;
}

/** Only ASCII spaces, tabs and line ends: a byte such as 0xA0 (not UTF-8 alone) makes the line a record to reject, not a blank. */
function isBlank(bytes: Buffer): boolean {
  for (const b of bytes) if (b !== 0x20 && b !== 0x09 && b !== 0x0d && b !== 0x0b && b !== 0x0c) return false;
  return true;
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
  let rejectsError: Error | undefined;
  let produced = 0;
  let skipped = 0;
  let rejected = 0;
  let lines = 0;
  // Each batch goes in as one idempotent script call (produce-batch-2.lua): a batch re-sent after
  // a dropped connection is not produced twice. Sharded: one batch and state key per shard stream.
  const runId = opts.runId ?? newTraceId();
  if (!/^[\w.:-]{1,128}$/.test(runId)) throw new ConfigError('produce.runId', `expected 1-128 characters of [A-Za-z0-9_.:-], got ${JSON.stringify(runId)}`);
  const lanes = new Map<string, Lane>();
  const lane = (stream: string): Lane => {
    let l = lanes.get(stream);
    if (!l) lanes.set(stream, (l = { stream, stateKey: `${stream}:producer:${runId}`, count: 0, hash: createHash('sha1'), batch: [] }));
    return l;
  };
  let inBatch = 0;

  const reject = (r: Reject) => {
    rejected++;
    opts.onReject?.(r);
    if (opts.rejectsFile) {
      // A rejects file that cannot be written fails the run at its end (after the good lines are in): never silent.
      rejects ??= createWriteStream(opts.rejectsFile, { flags: 'a' }).on('error', (err) => (rejectsError ??= err));
      rejects.write(JSON.stringify(r) + '\n');
    }
  };
  const flush = async () => {
    if (inBatch === 0) return;
    await opts.beforeBatch?.();
    // Shards' batches go to their masters in parallel; each is retried on its own.
    const sent = await Promise.all([...lanes.values()].filter((l) => l.batch.length > 0).map((l) => sendLane(redis, l, opts)));
    const added = sent.reduce((a, b) => a + b, 0);
    produced += added;
    skipped += inBatch - added; // a producer of the same run id, running at the same time, had added them
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
    if (isBlank(line.bytes)) continue; // blank lines are not records
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
      const l = lane(opts.streamFor ? opts.streamFor(record.id) : opts.stream);
      // A named run may be a resumed one: its records that are in are skipped here, unsent.
      if (l.resume === undefined) l.resume = opts.runId ? await readRunState(redis, l.stateKey, opts) : null;
      l.count++;
      l.hash.update(line.bytes);
      if (l.resume && l.count <= l.resume.count) {
        skipped++;
        if (l.count === l.resume.count) checkFingerprint(l, l.resume, runId);
        continue;
      }
      l.batch.push([record.id, encodeEnvelope(newEnvelope(record))]);
      if (++inBatch >= batchSize) await flush();
    } catch (err) {
      if (!(err instanceof BadRecordError)) throw err;
      reject({ ...at, reason: 'invalid_record', error: err.message, raw: text.slice(0, 200) });
    }
  }
  await flush();
  for (const l of lanes.values())
    if (l.resume && l.count < l.resume.count)
      throw new RunInputMismatchError(
        `run id ${runId}: this input has ${l.count} records for ${l.stream}, the run had added ${l.resume.count}: not the input it was started on; use a new --run-id, or none`,
      );
  if (rejects) await new Promise<void>((res) => rejects!.end(() => res()));
  if (rejectsError) throw new Error(`${rejected} rejected line(s) could not be kept in ${opts.rejectsFile}: ${rejectsError.message}`);
  return { produced, skipped, rejected, lines, seconds: (Date.now() - t0) / 1000 };
}

/**
 * Send one lane's batch until it is acknowledged (and replicated, with waitReplicas), or the retry
 * budget is spent. Returns how many entries this run added (0: a producer of the same run id had).
 */
async function sendLane(redis: Redis, l: Lane, opts: ProduceOptions): Promise<number> {
  const start = l.count - l.batch.length;
  const fingerprint = l.hash.copy().digest('hex');
  const want = opts.waitReplicas ?? 0;
  const budget = retryBudget(opts);
  const started = Date.now();
  let failingSince: number | undefined;
  let added = 0;
  // An attempt that failed may have gone through: a re-send then adds nothing, yet the batch is this run's.
  let uncertain = false;
  for (let attempt = 1; ; attempt++) {
    let short: number | undefined;
    try {
      if (want === 0) added += await appendBatchOnce(redis, l.stream, l.stateKey, start, l.batch, fingerprint);
      else {
        const r = await appendAndWait(redis, l, start, fingerprint, want, opts.waitTimeoutMs ?? 1_000);
        added += r.added;
        short = r.replicas;
      }
      if (short === undefined || short >= want) break;
      uncertain = true; // a failover may yet lose it: the re-send puts it back
      opts.onRetry?.(new ReplicationError(`batch of ${l.stream} reached ${short} of ${want} replicas`), Date.now() - started, budget);
    } catch (err) {
      // The retry window runs from the first failure (an attempt that fails slowly, e.g. reconnects refused at maxclients, does not eat it).
      failingSince ??= Date.now();
      uncertain = true;
      retryOrThrow(redis, err, failingSince, budget, opts);
    }
    if (short !== undefined && Date.now() - started >= budget) {
      throw new ReplicationError(
        `records ${start + 1}-${l.count} of ${l.stream} reached ${short} of ${want} replicas within ${budget} ms (is a replica down?); they are in the stream`,
      );
    }
    await sleep(backoffMs(attempt, opts.retryBaseMs ?? 50, opts.retryMaxMs ?? 1_000));
  }
  opts.onBatch?.(
    l.batch.map(([k]) => k),
    l.stream,
  );
  const mine = uncertain && added === 0 ? l.batch.length : Math.min(added, l.batch.length);
  l.batch = [];
  return mine;
}

/**
 * The batch and a WAIT in one pipeline, so both go on the same connection (WAIT counts replicas
 * that have this connection's writes; on a Cluster the pipeline goes to the slot's master). Returns
 * how many entries the script added and how many replicas acknowledged. On a re-send whose batch
 * had gone through, the script still writes (it refreshes its state key), so WAIT waits for this
 * master's replicas to have it too.
 */
async function appendAndWait(
  redis: Redis,
  l: Lane,
  start: number,
  fingerprint: string,
  replicas: number,
  timeoutMs: number,
): Promise<{ added: number; replicas: number }> {
  const args = produceArgs(start, l.batch, fingerprint);
  const keys = [l.stream, l.stateKey];
  const send = async () => {
    const replies =
      (await redis
        .pipeline()
        .fcall(produceScript.fn, 2, ...keys, ...args)
        .wait(replicas, timeoutMs)
        .exec()) ?? [];
    if (replies[0]?.[0]) throw replies[0][0]; // "Function not found": produceScript loads the library and sends again
    return replies;
  };
  const [script, wait] = await produceScript.withLibrary(redis, send, keys);
  if (!script || !wait) return { added: 0, replicas: 0 }; // no reply at all: not acknowledged, sent again
  if (script[0]) throw script[0];
  if (wait[0]) throw wait[0];
  return { added: producedNow(script[1] as [number, number], l.stream, start), replicas: Number(wait[1]) };
}
